"""The text of each page of a PDF, by one of two engines:

- `pdfium` (default): PDFium, the engine in Chrome, through pypdfium2. It places words by their
  glyph positions, so text typeset with LaTeX keeps its spaces, and it reads a long manual in a
  fraction of pypdf's time (bench/pdf_text.py).
- `pypdf`: pure Python. Kept as the `pdf.extractor = "pypdf"` choice for users who need the old
  text, and as the fallback for a file PDFium refuses to open but pypdf's lenient parser reads.

Each failure is a LoadError naming the reason (encrypted, corrupt). The signature (engine,
its version, the cleaning's version) is recorded per document, so an upgrade re-extracts PDFs.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

from rag.errors import ConfigError, LoadError

log = logging.getLogger(__name__)
CLEANING_VERSION = 2  # bump when rag.ingest.pdf.clean changes what it makes of the same text
ENCRYPTED = "encrypted PDF (a password is needed)"


def pdfium_pages(data: bytes) -> list[str]:
    """Each page's text by PDFium.

    Raises:
        LoadError: encrypted or unreadable.
    """
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise LoadError(ENCRYPTED) from exc
        raise LoadError(f"corrupt or unreadable PDF: {exc}") from exc
    try:
        texts = []
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    except pdfium.PdfiumError as exc:
        raise LoadError(f"corrupt or unreadable PDF: {exc}") from exc
    finally:
        document.close()


def pypdf_pages(data: bytes) -> list[str]:
    """Each page's text by pypdf.

    Raises:
        LoadError: encrypted or unreadable.
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(ENCRYPTED)
        return [page.extract_text() or "" for page in reader.pages]
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise LoadError(f"corrupt or unreadable PDF: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds on broken files
        if "crypt" in str(exc).lower():
            raise LoadError(f"encrypted PDF: {exc}") from exc
        raise LoadError(f"corrupt or unreadable PDF: {type(exc).__name__}: {exc}") from exc


def pdfium_or_pypdf(data: bytes) -> list[str]:
    """PDFium's pages; pypdf's when PDFium cannot open a file that is not encrypted."""
    try:
        return pdfium_pages(data)
    except LoadError as exc:
        if str(exc) == ENCRYPTED:
            raise
        log.info("PDFium could not read this PDF (%s); trying pypdf", exc)
        return pypdf_pages(data)


EXTRACTORS: dict[str, Callable[[bytes], list[str]]] = {"pdfium": pdfium_or_pypdf, "pypdf": pypdf_pages}


def check_extractor(name: str) -> str:
    """Raises ConfigError: an extractor that is not one of EXTRACTORS."""
    if name not in EXTRACTORS:
        raise ConfigError(f"pdf.extractor {name!r} is unknown: expected one of {', '.join(EXTRACTORS)}")
    return name


def extractor_signature(name: str) -> str:
    """What an index records of how its PDFs were read: engine, version, cleaning version."""
    from importlib.metadata import PackageNotFoundError, version

    package = {"pdfium": "pypdfium2", "pypdf": "pypdf"}[check_extractor(name)]
    try:
        release = version(package)
    except PackageNotFoundError:
        release = "?"
    return f"{name} {release} clean-{CLEANING_VERSION}"

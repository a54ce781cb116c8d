"""A PDF's bytes -> Page records (one per page with text, 1-based numbers), extracted by the
chosen engine (rag.ingest.pdf.extractors), pages without a text layer read by OCR when it is
installed (rag.ingest.pdf.scan), and cleaned (rag.ingest.pdf.clean)."""

from __future__ import annotations

import logging

from rag.errors import LoadError
from rag.ingest.pdf.clean import clean_pages
from rag.ingest.pdf.extractors import EXTRACTORS, check_extractor
from rag.types import Page

log = logging.getLogger(__name__)


def load_pdf(data: bytes, source: str, extractor: str = "pdfium", ocr: bool = True,
             progress: bool = False) -> list[Page]:
    """The pages of a PDF that hold text, with the document's title (a running header) on each;
    with `ocr`, pages without a text layer are read by OCR (marked `ocr`) where it is installed.

    Raises:
        LoadError: encrypted, corrupt, or no text on any page (scanned images without OCR).
        ConfigError: an unknown extractor.
    """
    from rag.ingest import ocr as engine

    texts = EXTRACTORS[check_extractor(extractor)](data)
    blank = [n for n, text in enumerate(texts) if not text.strip()]
    scanned: dict[int, str] = {}
    if blank and ocr:
        if engine.available():
            scanned = {n: t for n, t in _ocr(data, blank, source, progress).items() if t}
            texts = [scanned.get(n, text) for n, text in enumerate(texts)]
        elif len(blank) < len(texts):
            log.warning("%s: %d page(s) without a text layer were left out; %s", source, len(blank), engine.HINT)
    cleaned, title = clean_pages(texts)
    pages = [Page(source, number, text, "pdf", title, ocr=number - 1 in scanned)
             for number, text in enumerate(cleaned, 1) if text]
    if not pages:
        hint = f": {engine.HINT}" if ocr and not engine.available() else ""
        raise LoadError(f"no extractable text in {len(texts)} page(s) (scanned images?){hint}")
    return pages


def _ocr(data: bytes, pages: list[int], source: str, progress: bool) -> dict[int, str]:
    from rag.ingest.pdf.scan import ocr_pages

    return ocr_pages(data, pages, source, progress)

"""A PDF's bytes -> Page records (one per page with text, 1-based numbers), extracted by the
chosen engine (rag.ingest.pdf.extractors) and cleaned (rag.ingest.pdf.clean)."""

from __future__ import annotations

from rag.errors import LoadError
from rag.ingest.pdf.clean import clean_pages
from rag.ingest.pdf.extractors import EXTRACTORS, check_extractor
from rag.types import Page


def load_pdf(data: bytes, source: str, extractor: str = "pdfium") -> list[Page]:
    """The pages of a PDF that hold text, with the document's title (a running header) on each.

    Raises:
        LoadError: encrypted, corrupt, or no text on any page (scanned images).
        ConfigError: an unknown extractor.
    """
    texts = EXTRACTORS[check_extractor(extractor)](data)
    cleaned, title = clean_pages(texts)
    pages = [Page(source, number, text, "pdf", title) for number, text in enumerate(cleaned, 1) if text]
    if not pages:
        raise LoadError(f"no extractable text in {len(texts)} page(s) (scanned images?)")
    return pages

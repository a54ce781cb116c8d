"""PDF: one page record per page with text (1-based), read and cleaned by rag.ingest.pdf."""

from __future__ import annotations

from rag.ingest.loaders.registry import Loader, LoadOptions, register_loader
from rag.types import Page


def _load(data: bytes, source: str, options: LoadOptions) -> list[Page]:
    from rag.ingest.pdf import load_pdf

    return load_pdf(data, source, options.pdf_extractor, options.ocr, options.progress)


def _signature(options: LoadOptions) -> str:
    from rag.ingest.pdf import extractor_signature

    return extractor_signature(options.pdf_extractor)


register_loader(Loader("pdf", (".pdf",), _load, _signature, "PDF: one page per page, its running title kept, scanned pages by OCR"))

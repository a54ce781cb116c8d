"""Scanned PDF pages (no text layer) read by OCR (rag.ingest.ocr): each rendered by PDFium at
300 dpi in grey, only when a worker is ready for it."""

from __future__ import annotations

from collections.abc import Sequence

DPI = 300


def ocr_pages(data: bytes, indexes: Sequence[int], label: str, progress: bool = False) -> dict[int, str]:
    """Page index -> its text by OCR, for the pages `indexes` (0-based)."""
    import pypdfium2 as pdfium

    from rag.ingest.ocr import read_pages

    document = pdfium.PdfDocument(data)

    def render(i: int):  # noqa: ANN202 - a PIL image
        page = document[indexes[i]]
        try:
            return page.render(scale=DPI / 72, grayscale=True).to_pil()
        finally:
            page.close()

    try:
        return dict(zip(indexes, read_pages(len(indexes), render, label, progress)))
    finally:
        document.close()

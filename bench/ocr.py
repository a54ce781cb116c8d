"""OCR throughput and fidelity: the first N pages of a text PDF are rendered to images at
300 dpi and saved as an image-only PDF (a scan without a text layer), which the ingest's PDF
loader reads by OCR (rag.ingest.ocr: Tesseract, one process per core). Prints pages/s and
the word F1 of each page's OCR text against the original's text layer (PDFium's, cleaned).

    .venv/bin/python bench/ocr.py FILE.pdf [PAGES]
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

import pypdfium2 as pdfium

from rag.answer.match import f1_score
from rag.ingest import ocr
from rag.ingest.pdf import load_pdf


def scanned(path: Path, pages: int) -> bytes:
    """An image-only PDF of the first `pages` pages of `path`."""
    document = pdfium.PdfDocument(str(path))
    images = [document[i].render(scale=300 / 72, grayscale=True).to_pil().convert("RGB")
              for i in range(min(pages, len(document)))]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=300, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def main(path: Path, pages: int) -> None:
    if not ocr.available():
        sys.exit(ocr.HINT)
    original = {p.page: p.text for p in load_pdf(path.read_bytes(), path.name, ocr=False)}
    data = scanned(path, pages)
    started = time.perf_counter()
    read = load_pdf(data, "scan.pdf", ocr=True)
    seconds = time.perf_counter() - started
    scores = [f1_score(p.text, [original[p.page]]) for p in read if p.page in original]
    print(f"{path.name}: {len(read)} of {pages} pages read by OCR in {seconds:.1f} s: "
          f"{len(read) / seconds:.2f} pages/s on {os.cpu_count()} cores ({ocr.engine()}); "
          f"word F1 against the text layer: mean {sum(scores) / len(scores):.3f}, min {min(scores):.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 10)

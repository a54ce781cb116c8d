"""Text from images by OCR: Tesseract (Debian's `tesseract-ocr` + `tesseract-ocr-eng`) through
pytesseract, the `ocr` extra. Pages run in a thread pool (each is a tesseract process, so the
threads run in parallel), one core each, with a time limit per page so that a 1,500-page scan
cannot hang an ingest; a page that times out or fails is left out with a warning.

Without the extra or the binary, `available()` is False and `HINT` says what to install.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tqdm import tqdm

log = logging.getLogger(__name__)
HINT = ("OCR is not installed: `pip install localrag[ocr]` and Debian's `tesseract-ocr tesseract-ocr-eng` "
        "(`make setup` installs the extra when tesseract is present)")
PAGE_SECONDS = 120.0  # time limit for one page


def available() -> bool:
    """Whether pytesseract imports and the tesseract binary is on PATH."""
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return False
    return shutil.which("tesseract") is not None


def engine() -> str:
    """"tesseract-VERSION" (for the record of how a document was read), or "" without OCR."""
    if not available():
        return ""
    import pytesseract

    return f"tesseract-{pytesseract.get_tesseract_version()}"


def read_page(image: Any, timeout: float = PAGE_SECONDS) -> str:
    """One image's text ("" when tesseract fails or runs out of time, with a warning)."""
    import pytesseract

    try:
        return str(pytesseract.image_to_string(image, lang="eng", timeout=timeout)).strip()
    except (RuntimeError, pytesseract.TesseractError) as exc:  # a timeout is a RuntimeError
        log.warning("OCR of a page failed: %s", exc)
        return ""


def read_pages(count: int, render: Callable[[int], Any], label: str, progress: bool = False,
               timeout: float = PAGE_SECONDS) -> list[str]:
    """The text of images 0..count-1, in order, read in parallel (one tesseract per core).
    `render(i)` makes image i when a worker is ready for it (one at a time: PDFium is not
    thread-safe), so a long scan never sits in memory whole."""
    workers = max(1, min(count, os.cpu_count() or 1))
    lock = threading.Lock()

    def one(index: int) -> str:
        with lock:
            image = render(index)
        return read_page(image, timeout)

    previous = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = "1"  # tesseract's own threads would fight the pool's
    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(tqdm(pool.map(one, range(count)), total=count, desc=f"OCR {label}", unit="page",
                             disable=not progress))
    finally:
        if previous is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)
        else:
            os.environ["OMP_THREAD_LIMIT"] = previous

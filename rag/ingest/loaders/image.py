"""Images (.png, .jpg, .tiff: a scanned page or a photo of one) read by OCR (rag.ingest.ocr);
each frame of a multi-page TIFF is a page. Without OCR installed, each is reported with what to
install; an image in which OCR finds no text (a photo) is kept with nothing to index."""

from __future__ import annotations

import io
import logging

from rag.errors import LoadError
from rag.ingest.loaders.registry import Loader, LoadOptions, register_loader
from rag.types import Page

log = logging.getLogger(__name__)
MAX_PIXELS = 200_000_000  # a decompression bomb is refused (PIL's own guard warns at 89 M)


def _load(data: bytes, source: str, options: LoadOptions) -> list[Page]:
    from rag.ingest import ocr

    if not options.ocr or not ocr.available():
        raise LoadError(f"an image: its text needs OCR. {ocr.HINT}" if options.ocr else "an image, and OCR is off")
    from PIL import Image, ImageSequence

    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise LoadError(f"refused: {image.width}x{image.height} pixels (the limit is {MAX_PIXELS:,})")
        frames = [frame.convert("L") for frame in ImageSequence.Iterator(image)]
    except (OSError, Image.DecompressionBombError) as exc:
        raise LoadError(f"unreadable image: {exc}") from exc
    texts = ocr.read_pages(len(frames), frames.__getitem__, source, options.progress)
    multi = len(frames) > 1
    pages = [Page(source, n if multi else None, text, "image", ocr=True) for n, text in enumerate(texts, 1) if text]
    if not pages:  # a photo, not a page: nothing to index, and nothing wrong
        log.info("%s: OCR found no text in %d image frame(s)", source, len(frames))
    return pages


register_loader(Loader("image", (".png", ".jpg", ".jpeg", ".tif", ".tiff"), _load,
                       about="images: text by OCR (the ocr extra), a page per TIFF frame"))

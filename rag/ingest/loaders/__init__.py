"""Find documents in a folder and load each into pages of text, by the loader registered for
its extension (rag.ingest.loaders.registry; one module per format registers its own). Every
failure of a single file is a LoadError carrying the reason; the pipeline records it and moves on.
"""

from __future__ import annotations

from pathlib import Path

from rag.errors import LoadError
from rag.ingest.loaders import docx, eml, epub, image, pdf, pptx, sheets, text  # noqa: F401 - each registers its formats
from rag.ingest.loaders.discover import FoundFile, discover, read_bytes
from rag.ingest.loaders.registry import (
    Loader,
    LoadOptions,
    extensions_text,
    loader_for,
    loaders,
    register_loader,
)
from rag.ingest.loaders.text import decode_text, html_to_text
from rag.types import Page

__all__ = ["FoundFile", "LoadOptions", "Loader", "decode_text", "discover", "extensions_text", "html_to_text",
           "load_bytes", "load_file", "loader_for", "loaders", "read_bytes", "register_loader", "signature"]


def load_bytes(data: bytes, source: str, pdf_extractor: str = "pdfium", options: LoadOptions | None = None) -> list[Page]:
    """Turn a file's bytes into pages; the extension of `source` picks the loader, and
    `pdf_extractor` the PDF engine (rag.ingest.pdf), or `options` all a loader may be told.

    Raises:
        LoadError: unsupported extension, empty content, or the loader's own reason.
    """
    loader = loader_for(source)
    if loader is None:
        raise LoadError(f"unsupported extension {Path(source).suffix!r}")
    if not data.strip():
        raise LoadError("empty file")
    return loader.load(data, source, options or LoadOptions(pdf_extractor))


def load_file(path: str | Path, source: str | None = None, pdf_extractor: str = "pdfium") -> list[Page]:
    """Load one file into pages (`source` defaults to the file name).

    Raises:
        LoadError: the file cannot be read or holds nothing usable.
    """
    return load_bytes(read_bytes(path), source or Path(path).name, pdf_extractor)


def signature(source: str, pdf_extractor: str = "pdfium") -> str:
    """How the loader of `source` makes its text ("" for formats that never change); recorded
    per document so that a change re-reads it."""
    loader = loader_for(source)
    return loader.signature(LoadOptions(pdf_extractor)) if loader is not None else ""

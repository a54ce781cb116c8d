"""The loaders' registry: each format's module registers a Loader for its extensions, and
discovery, `load_bytes`, `rag info` and the README's list read it. A user's own format is one
function plus one `register_loader` call:

    from rag.ingest.loaders import Loader, register_loader
    register_loader(Loader("toy", (".toy",), lambda data, source, options: [Page(source, None, ...)]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError
from rag.types import Page


@dataclass(frozen=True)
class LoadOptions:
    """What a loader may be told: the PDF text engine (rag.ingest.pdf), whether pages without
    text are read by OCR where it is installed, and whether to show its progress."""

    pdf_extractor: str = "pdfium"
    ocr: bool = True
    progress: bool = False


@dataclass(frozen=True)
class Loader:
    """One format.

    Attributes:
        kind: the name recorded in each page (`Page.kind`).
        extensions: lower-case file name endings it reads (".docx").
        load: (bytes, source, options) -> pages; raises LoadError with the reason.
        signature: (options) -> how its text is made (engine, version); recorded per document,
            so a change re-reads that format's files on the next ingest. "" = never changes.
        about: one line for `rag info` and the README: what becomes page and section.
    """

    kind: str
    extensions: tuple[str, ...]
    load: Callable[[bytes, str, LoadOptions], list[Page]]
    signature: Callable[[LoadOptions], str] = lambda options: ""
    about: str = ""


_BY_EXTENSION: dict[str, Loader] = {}


def register_loader(loader: Loader) -> Loader:
    """Make `loader` read its extensions (replacing an earlier one for the same extension).

    Raises:
        InputError: an extension that is not a lower-case ".name".
    """
    for ext in loader.extensions:
        if not ext.startswith(".") or ext != ext.lower() or len(ext) < 2:
            raise InputError(f"loader {loader.kind!r}: extension {ext!r} must be lower case and start with '.'")
    for ext in loader.extensions:
        _BY_EXTENSION[ext] = loader
    return loader


def loader_for(source: str | Path) -> Loader | None:
    """The loader of a file name's extension, or None."""
    return _BY_EXTENSION.get(Path(source).suffix.lower())


def loaders() -> list[Loader]:
    """Every registered loader, once each, in registration order."""
    return list(dict.fromkeys(_BY_EXTENSION.values()))


def extensions_text() -> str:
    """'.txt, .md, ... or .pdf' for messages."""
    names = sorted(_BY_EXTENSION)
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1] if names else "none"

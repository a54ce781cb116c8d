"""Find documents in a folder and load each into pages of text.

Supported: .txt, .md/.markdown, .pdf (one page record per PDF page, 1-based; rag.ingest.pdf), .html/.htm
(visible text; headings become Markdown headings so sections survive). Every failure of a
single file is a LoadError carrying the reason; the pipeline records it and moves on.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from rag.errors import InputError, LoadError
from rag.types import Page

log = logging.getLogger(__name__)

TEXT_EXTENSIONS = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
SUPPORTED_EXTENSIONS = {**TEXT_EXTENSIONS, ".pdf": "pdf"}


@dataclass(frozen=True)
class FoundFile:
    """A file to ingest: its absolute path and its source name relative to the root."""

    path: Path
    source: str
    outside: bool = False  # a symlink out of a confined root: listed to be reported, never read


def discover(root: str | Path, confine: bool = False) -> tuple[list[FoundFile], int]:
    """List ingestible files under `root` (a folder, or one document), following symlinks
    without looping.

    Hidden files and folders (name starting with '.') are skipped silently; files with
    other extensions are counted as ignored. With `confine`, symlinks are followed only while
    they stay inside `root` (resolved): a folder link out of it is not entered and a file link
    out of it is listed with `outside=True`, to be reported and never read (`rag serve`).

    Returns:
        (files sorted by source, number of ignored files)

    Raises:
        InputError: `root` is not a directory.
    """
    root = Path(root)
    if root.is_file():  # a single document is a root of its own
        if root.suffix.lower() in SUPPORTED_EXTENSIONS:
            return [FoundFile(root, root.name)], 0
        raise InputError(f"{str(root)!r} is not a .txt, .md, .pdf or .html file")
    if not root.is_dir():
        raise InputError(f"{str(root)!r} does not exist or is not a folder or a document")
    found: list[FoundFile] = []
    ignored = 0
    seen_dirs: set[tuple[int, int]] = set()
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        stat = os.stat(dirpath)
        if (stat.st_dev, stat.st_ino) in seen_dirs:  # a symlink loop or a second way in
            dirnames[:] = []
            continue
        seen_dirs.add((stat.st_dev, stat.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and not (confine and not _inside(Path(dirpath) / d, real_root)))
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.suffix.lower() in SUPPORTED_EXTENSIONS and (path.is_file() or path.is_symlink()):
                found.append(FoundFile(path, path.relative_to(root).as_posix(),
                                       confine and not _inside(path, real_root)))
            else:
                ignored += 1
    return sorted(found, key=lambda f: f.source), ignored


def _inside(path: Path, real_root: Path) -> bool:
    """Whether `path`, its symlinks resolved, lies under `real_root`."""
    return path.resolve().is_relative_to(real_root)


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8, else as the detected encoding, else cp1252; never drop text.

    Raises:
        LoadError: the bytes are binary (NUL bytes without a UTF-16/32 byte-order mark).
    """
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
                          (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
                          (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:8192]:
        raise LoadError("binary content (NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        log.debug("decoded as %s", best.encoding)
        return str(best)
    return data.decode("cp1252", errors="replace")


class _HtmlText(HTMLParser):
    """Collects visible text; block tags become line breaks, h1-h6 become Markdown headings."""

    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCK = {"p", "div", "br", "li", "tr", "section", "article", "header", "footer", "table",
             "ul", "ol", "blockquote", "pre", "dt", "dd", "hr", "main", "nav", "aside"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self.SKIP:
            self._skip_depth += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._skip_depth == 0:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML document, whitespace tidied, headings as '# ...' lines."""
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if parser.title.strip() and not text.startswith("#"):
        text = f"# {parser.title.strip()}\n\n{text}"
    return text


def read_bytes(path: str | Path) -> bytes:
    """Read a file's bytes, turning OS errors into LoadError with the reason."""
    try:
        return Path(path).read_bytes()
    except PermissionError as exc:
        raise LoadError(f"permission denied: {exc.strerror}") from exc
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from exc


def load_bytes(data: bytes, source: str, pdf_extractor: str = "pdfium") -> list[Page]:
    """Turn a file's bytes into pages; the extension of `source` picks the loader, and
    `pdf_extractor` the PDF engine (rag.ingest.pdf).

    Raises:
        LoadError: unsupported extension, binary or empty content, or a broken PDF.
    """
    kind = SUPPORTED_EXTENSIONS.get(Path(source).suffix.lower())
    if kind is None:
        raise LoadError(f"unsupported extension {Path(source).suffix!r}")
    if not data.strip():
        raise LoadError("empty file")
    if kind == "pdf":
        from rag.ingest.pdf import load_pdf

        return load_pdf(data, source, pdf_extractor)
    text = decode_text(data)
    if kind == "html":
        text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise LoadError("no text content")
    return [Page(source, None, text, kind)]


def load_file(path: str | Path, source: str | None = None, pdf_extractor: str = "pdfium") -> list[Page]:
    """Load one file into pages (`source` defaults to the file name).

    Raises:
        LoadError: the file cannot be read or holds nothing usable.
    """
    return load_bytes(read_bytes(path), source or Path(path).name, pdf_extractor)

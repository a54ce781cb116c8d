"""Plain text, Markdown and HTML: one page each. Text is decoded whatever its encoding (never
dropped); HTML keeps its visible text, its headings turned into Markdown headings so sections
survive."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from html.parser import HTMLParser

from rag.errors import LoadError
from rag.ingest.loaders.registry import Loader, LoadOptions, register_loader
from rag.types import Page

log = logging.getLogger(__name__)

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


def _loader(kind: str) -> Callable[[bytes, str, LoadOptions], list[Page]]:
    def load(data: bytes, source: str, options: LoadOptions) -> list[Page]:
        text = decode_text(data)
        if kind == "html":
            text = html_to_text(text)
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if not text:
            raise LoadError("no text content")
        return [Page(source, None, text, kind, headings=kind != "txt")]
    return load


register_loader(Loader("txt", (".txt",), _loader("txt"), about="plain text: one page"))
register_loader(Loader("md", (".md", ".markdown"), _loader("md"), about="Markdown: headings -> section"))
register_loader(Loader("html", (".html", ".htm"), _loader("html"), about="HTML: visible text, headings -> section"))

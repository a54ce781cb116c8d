"""Word (.docx) by python-docx: paragraphs in order, headings (and the Title style) as Markdown
headings so they become each chunk's section, tables as rows of "header: value" text."""

from __future__ import annotations

import io

from rag.errors import LoadError
from rag.ingest.loaders.archive import open_zip, table_lines
from rag.ingest.loaders.registry import Loader, LoadOptions, register_loader
from rag.types import Page


def _heading_level(style: str) -> int:
    """1-6 for "Title" and "Heading N" styles, 0 for the rest."""
    if style == "Title":
        return 1
    if style.startswith("Heading ") and style[8:].isdigit():
        return min(6, max(1, int(style[8:])))
    return 0


def _load(data: bytes, source: str, options: LoadOptions) -> list[Page]:
    import docx
    from docx.table import Table

    open_zip(data, ".docx")  # encrypted, corrupt or a bomb: refused before python-docx expands it
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds for a broken package
        raise LoadError(f"corrupt .docx: {exc}") from exc
    blocks = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            blocks += table_lines([[cell.text.strip() for cell in row.cells] for row in block.rows])
            continue
        text = block.text.strip()
        if text:
            level = _heading_level(block.style.name if block.style is not None else "")
            blocks.append(f"{'#' * level} {text}" if level else text)
    if not blocks:
        raise LoadError("no text content")
    title = (document.core_properties.title or "").strip()
    return [Page(source, None, "\n\n".join(blocks), "docx", title, headings=True)]


register_loader(Loader("docx", (".docx",), _load, about="Word: headings -> section, tables as 'header: value' rows"))

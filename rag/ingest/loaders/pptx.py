"""PowerPoint (.pptx) by python-pptx: one page per slide (`page` = the slide's number), its
title as the section, the text of every shape and table on it, then its speaker notes."""

from __future__ import annotations

import io
from typing import Any

from rag.errors import LoadError
from rag.ingest.loaders.archive import open_zip, table_lines
from rag.ingest.loaders.registry import Loader, LoadOptions, register_loader
from rag.types import Page


def _shape_texts(shape: Any) -> list[str]:
    """The text a shape shows: its text frame, its table's rows, a group's members."""
    if getattr(shape, "shapes", None) is not None:  # a group
        return [t for member in shape.shapes for t in _shape_texts(member)]
    if getattr(shape, "has_table", False) and shape.has_table:
        return table_lines([[cell.text.strip() for cell in row.cells] for row in shape.table.rows])
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        return [shape.text_frame.text.strip()]
    return []


def _load(data: bytes, source: str, options: LoadOptions) -> list[Page]:
    from pptx import Presentation

    open_zip(data, ".pptx")
    try:
        deck = Presentation(io.BytesIO(data))
    except Exception as exc:  # python-pptx raises several kinds for a broken package
        raise LoadError(f"corrupt .pptx: {exc}") from exc
    pages = []
    for number, slide in enumerate(deck.slides, 1):
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None else ""
        texts = [t for shape in slide.shapes if shape is not title_shape for t in _shape_texts(shape) if t]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            texts += [f"Notes: {notes}"] if notes else []
        body = "\n".join(([title] if title else []) + texts)
        if body.strip():
            pages.append(Page(source, number, body, "pptx", section=title))
    if not pages:
        raise LoadError(f"no text on any of {len(deck.slides)} slide(s)")
    return pages


register_loader(Loader("pptx", (".pptx",), _load,
                       about="PowerPoint: one page per slide, its title -> section, speaker notes kept"))

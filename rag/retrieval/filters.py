"""Metadata filters on retrieval: by root or source (glob), page range and section.

A filter is resolved once, against the values the index actually holds, into explicit lists of
sources and sections (a ResolvedFilter, in rag.types); every route then applies the same lists
(the store translates them into Chroma's `where`, the lexical index into SQL), so a dense and a
lexical hit can never disagree about what matched.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rag.documents import relative_path
from rag.errors import InputError
from rag.types import ResolvedFilter

GLOB_CHARS = "*?["


@dataclass(frozen=True)
class ChunkFilter:
    """Which chunks a question may retrieve.

    Attributes:
        source: a root's label ("handbook": all its documents), or a glob over document ids
            as `rag info` shows them, `root/path` ("handbook/*.md"), or over paths inside the
            roots ("setup/*.md", "report.pdf": in any root); case-sensitive, `*` also crosses `/`.
        page_min, page_max: inclusive page range; a page filter excludes chunks without pages.
        section: Markdown heading path; a glob ("*Install*"), or a plain heading path, which
            matches that section and its subsections ("Guide" matches "Guide > Setup").
    """

    source: str | None = None
    page_min: int | None = None
    page_max: int | None = None
    section: str | None = None

    def __post_init__(self) -> None:
        for name in ("page_min", "page_max"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InputError(f"filter {name} must be a page number >= 1; got {value!r}")
        if self.page_min is not None and self.page_max is not None and self.page_min > self.page_max:
            raise InputError(f"filter page range {self.page_min}-{self.page_max} is empty "
                             "(page_min > page_max)")
        for name in ("source", "section"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and value.strip()):
                raise InputError(f"filter {name} must be a non-empty string; got {value!r}")

    @property
    def is_empty(self) -> bool:
        return self.source is None and self.section is None and self.page_min is None and self.page_max is None


# What a caller may pass as a filter: a ChunkFilter, or its dict form (JSON from a request).
FilterLike = ChunkFilter | Mapping[str, object] | None


def parse_filter(value: FilterLike) -> ChunkFilter | None:
    """A ChunkFilter from a ChunkFilter, a dict ({"source", "pages": "3-7" or (3, 7),
    "page_min", "page_max", "section"}) or None.

    Raises:
        InputError: an unknown key or a malformed page range.
    """
    if value is None or isinstance(value, ChunkFilter):
        return None if value is None or value.is_empty else value
    if not isinstance(value, Mapping):
        raise InputError(f"filter must be a ChunkFilter or a dict; got {type(value).__name__}")
    raw: Mapping[str, Any] = value  # each value is checked by ChunkFilter
    allowed = {"source", "pages", "page_min", "page_max", "section"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InputError(f"unknown filter key(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}")
    page_min, page_max = raw.get("page_min"), raw.get("page_max")
    if raw.get("pages") is not None:
        page_min, page_max = parse_pages(raw["pages"])
    built = ChunkFilter(raw.get("source"), page_min, page_max, raw.get("section"))
    return None if built.is_empty else built


def parse_pages(pages: Any) -> tuple[int | None, int | None]:
    """(first, last) of "7", "3-7", "3-", "-7" or a (first, last) pair.

    Raises:
        InputError: anything else.
    """
    if isinstance(pages, (tuple, list)) and len(pages) == 2:
        return pages[0], pages[1]
    if isinstance(pages, int):
        return pages, pages
    text = str(pages).strip()
    low, dash, high = text.partition("-")
    try:
        first = int(low) if low.strip() else None
        last = (int(high) if high.strip() else None) if dash else first
    except ValueError:
        raise InputError(f"pages must look like 7, 3-7, 3- or -7; got {pages!r}") from None
    if first is None and last is None:
        raise InputError(f"pages must look like 7, 3-7, 3- or -7; got {pages!r}")
    return first, last


def _source_matches(pattern: str, source: str) -> bool:
    """A glob over document ids or over paths inside their roots, or a plain root label (all
    of that root's documents)."""
    if fnmatch.fnmatchcase(source, pattern) or fnmatch.fnmatchcase(relative_path(source), pattern):
        return True
    return not any(c in pattern for c in GLOB_CHARS) and source.startswith(pattern.rstrip("/") + "/")


def _section_matches(pattern: str, section: str) -> bool:
    if any(c in pattern for c in GLOB_CHARS):
        return fnmatch.fnmatchcase(section, pattern)
    return section == pattern or section.startswith(pattern + " > ")


def resolve_filter(chunk_filter: ChunkFilter, sources: Iterable[str], sections: Iterable[str]
                   ) -> ResolvedFilter:
    """Match the filter's patterns against the sources and sections the index holds.

    Raises:
        InputError: a source or section pattern that matches nothing in the index.
    """
    chosen_sources = chosen_sections = None
    if chunk_filter.source is not None:
        known = sorted(set(sources))
        chosen_sources = tuple(s for s in known if _source_matches(chunk_filter.source, s))
        if not chosen_sources:
            shown = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
            raise InputError(f"source filter {chunk_filter.source!r} matches no indexed source "
                             f"(the index holds: {shown or 'nothing'})")
    if chunk_filter.section is not None:
        known = sorted(set(sections))
        chosen_sections = tuple(s for s in known if _section_matches(chunk_filter.section, s))
        if not chosen_sections:
            shown = ", ".join(repr(s) for s in known[:8] if s) + (" ..." if len(known) > 8 else "")
            raise InputError(f"section filter {chunk_filter.section!r} matches no section "
                             f"(some sections: {shown or 'none: no Markdown headings indexed'})")
    return ResolvedFilter(chosen_sources, chosen_sections, chunk_filter.page_min, chunk_filter.page_max)

"""Page texts as a reader wants them: compatibility characters normalized (NFKC: "ﬁ" -> "fi"),
words split by a hyphen at a line end joined ("manage-\\nment" -> "management", while "apt-get"
keeps its hyphen), and lines repeated at the top or bottom of many pages (running headers,
footers, page numbers) dropped, the most common of them kept as the document's title."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be running lines
MIN_PAGES = 3  # a running line repeats on at least this many pages
# A running line without a number (no page number in it) must head or foot this share of the
# pages: "Syntax:" or "}" at the top of a few pages of a manual is content, not a header.
UNNUMBERED_SHARE = 0.3
_BREAK = re.compile(r"(\w+)[-\u00ad\u2010\x02][ \t]*\n[ \t]*(\w+)")


def normalize(text: str) -> str:
    """NFKC, Unix line ends, no trailing spaces, and PDFium's marks of a hyphen at a line end
    (U+FFFE, which also swallows the break; U+0002) back as a hyphen and a break, for
    join_hyphenated to decide."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "-\n").replace("\x02", "-")
    return "\n".join(line.rstrip() for line in unicodedata.normalize("NFKC", text).split("\n"))


def join_hyphenated(text: str, vocabulary: set[str] | None = None) -> str:
    """Join words split by a hyphen at a line end. The hyphen stays (and the line break goes)
    when the hyphenated word occurs elsewhere in the document ("apt-get"), or the second part
    starts with a capital or a digit ("Jean-\\nPaul", "COVID-\\n19"); otherwise the parts are
    one word ("manage-\\nment")."""
    words = vocabulary if vocabulary is not None else set(re.findall(r"\w+(?:-\w+)+", text))

    def join(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2)
        if f"{left}-{right}" in words or not right[0].islower():
            return f"{left}-{right}"
        return left + right

    return _BREAK.sub(join, text)


def _edge(count: int) -> int:
    """Lines at each end of a page of `count` lines that may be running lines: the two ends
    never meet and a line of text always stays (a page of one or two lines has none)."""
    return min(EDGE_LINES, (count - 1) // 2)


def line_key(line: str) -> str:
    """A line as it repeats from page to page: numbers (each read as 0) and spacing do not count."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "0", line)).strip().lower()


@dataclass(frozen=True)
class RunningLines:
    """Running lines of a document: their keys at the top and at the bottom, and its title."""

    top: frozenset[str]
    bottom: frozenset[str]
    title: str
    folio_offset: int | None = None  # printed page number - page index, where pages print one


def _running(key: str, count: int, pages: int) -> bool:
    """Whether a line seen `count` times at a page's edge is a running line."""
    if count < MIN_PAGES:
        return False
    if "0" in key:  # a page number, alone or in a header (every number reads 0 in a key)
        return True
    return count >= UNNUMBERED_SHARE * pages and len(re.sub(r"\W", "", key)) >= 4


def _folio(line: str) -> int | None:
    """The number a short line starts or ends with (a header's or footer's page number)."""
    if len(line) > 120:
        return None
    found = re.search(r"(?<![\d.,])(\d{1,5})\s*$", line) or re.match(r"^\s*(\d{1,5})(?![\d.,])", line)
    return int(found.group(1)) if found else None


def folio_offset(edges: Sequence[tuple[int, list[str]]]) -> int | None:
    """The offset between printed page numbers and page indexes shared by the edge lines of
    MIN_PAGES pages and a third of them or more; None where pages print no number."""
    offsets: Counter[int] = Counter()
    for index, lines in edges:
        offsets.update({number - index for number in map(_folio, lines) if number is not None})
    if not offsets:
        return None
    offset, count = offsets.most_common(1)[0]
    return offset if count >= max(MIN_PAGES, len(edges) / 3) else None


def running_lines(pages: Sequence[str]) -> RunningLines:
    """The lines among the first and last EDGE_LINES of a page that repeat, numbers aside, on
    MIN_PAGES pages or more (UNNUMBERED_SHARE of them without a number); the title is the most
    common with a word in it, where it heads half the pages or more (its page number taken off)."""
    tops: Counter[str] = Counter()
    bottoms: Counter[str] = Counter()
    first_seen: dict[str, str] = {}
    edges: list[tuple[int, list[str]]] = []
    for index, text in enumerate(pages, 1):
        lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        n = _edge(len(lines))
        if not n:
            continue
        edges.append((index, lines[:n] + lines[-n:]))
        for counter, edge in ((tops, lines[:n]), (bottoms, lines[-n:])):
            for key in {line_key(ln) for ln in edge}:
                counter[key] += 1
            for ln in edge:
                first_seen.setdefault(line_key(ln), ln)
    top = frozenset(k for k, n in tops.items() if _running(k, n, len(pages)))
    bottom = frozenset(k for k, n in bottoms.items() if _running(k, n, len(pages)))
    worded = [(n, k) for k, n in (tops + bottoms).items()
              if (k in top or k in bottom) and re.search(r"[^\W\d_]{3,}", k)
              and n * 2 >= len(pages) and not re.fullmatch(r"(page|seite|p\.?)\s*0.*", k)]
    title = ""
    if worded:
        line = first_seen[max(worded)[1]]
        title = re.sub(r"^\s*\d+\s+|\s+\d+\s*$", "", line).strip()
    return RunningLines(top, bottom, title, folio_offset(edges))


def drop_running(text: str, running: RunningLines, index: int = 0) -> str:
    """`text` (page `index`, 1-based) without the running lines at its top and bottom: those
    that repeat, and those carrying this page's printed number (a short chapter's header)."""
    lines = text.split("\n")
    filled = [i for i, ln in enumerate(lines) if ln.strip()]
    n = _edge(len(filled))
    if not n:
        return text
    drop = {i for i in filled[:n] if line_key(lines[i]) in running.top}
    drop |= {i for i in filled[-n:] if line_key(lines[i]) in running.bottom}
    if running.folio_offset is not None:
        drop |= {i for i in filled[:n] + filled[-n:] if _folio(lines[i].strip()) == index + running.folio_offset}
    return "\n".join(ln for i, ln in enumerate(lines) if i not in drop)


def clean_pages(pages: Sequence[str]) -> tuple[list[str], str]:
    """(each page's clean text, the document's title or "")."""
    normalized = [normalize(p) for p in pages]
    running = running_lines(normalized)
    kept = [drop_running(p, running, index) for index, p in enumerate(normalized, 1)]
    vocabulary = set(re.findall(r"\w+(?:-\w+)+", "\n".join(kept)))
    return [join_hyphenated(p, vocabulary).strip() for p in kept], running.title

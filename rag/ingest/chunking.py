"""Token-aware chunking: paragraphs, then sentences, then words, measured in the
embedding model's own tokens, so no chunk is silently truncated at embedding time."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.errors import ConfigError
from rag.types import Chunk, Page

# Paragraph, line, sentence end, clause, word, character.
SEPARATORS = [r"\n\s*\n", r"\n", r"(?<=[.!?])\s+", r"(?<=[;:])\s+", r"(?<=,)\s+", r"\s+", ""]
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def content_hash(text: str) -> str:
    """Short, stable hash of a chunk's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def chunk_id(source: str, page: int | None, position: int) -> str:
    """Stable id from the source path, page and position of a chunk."""
    return f"{source}#p{page}#c{position}" if page is not None else f"{source}#c{position}"


def markdown_sections(text: str) -> list[tuple[str, str]]:
    """Split Markdown into (heading path, text) sections; headings stay in the text.

    Consecutive headings with no body between them share one section. Fenced code is
    never mistaken for headings.
    """
    sections: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    buffer: list[str] = []
    has_body = False
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            if has_body:
                sections.append((" > ".join(t for _, t in stack), "\n".join(buffer).strip()))
                buffer, has_body = [], False
            level = len(match.group(1))
            stack = [(lvl, t) for lvl, t in stack if lvl < level] + [(level, match.group(2))]
        elif line.strip():
            has_body = True
        buffer.append(line)
    if "\n".join(buffer).strip():
        sections.append((" > ".join(t for _, t in stack), "\n".join(buffer).strip()))
    return sections


SHORT_CHARS = 64  # texts up to this long have their token counts cached


class Chunker:
    """Splits pages into chunks of at most `chunk_size_tokens` tokens with overlap.

    Args:
        count_tokens: the embedding model's token counter (special tokens included).
        max_tokens: the embedding model's max sequence length.
        chunk_size_tokens: target size, special tokens included.
        chunk_overlap_tokens: tokens shared by neighbouring chunks.

    Raises:
        ConfigError: size above the model limit, or overlap >= size.
    """

    def __init__(self, count_tokens: Callable[[str], int], max_tokens: int,
                 chunk_size_tokens: int = 200, chunk_overlap_tokens: int = 30) -> None:
        if chunk_size_tokens > max_tokens:
            raise ConfigError(f"chunking.chunk_size_tokens ({chunk_size_tokens}) must be at most the "
                              f"embedding model's limit ({max_tokens} tokens)")
        if not 0 <= chunk_overlap_tokens < chunk_size_tokens:
            raise ConfigError(f"chunking.chunk_overlap_tokens ({chunk_overlap_tokens}) must be "
                              f"less than chunking.chunk_size_tokens ({chunk_size_tokens})")
        self.count_tokens = count_tokens
        # The splitter measures every word of a long run without punctuation, one call each:
        # short pieces repeat (Zipf), so their counts are remembered (20 MB on one line: 3.5M calls).
        self._count_short = functools.lru_cache(maxsize=1 << 16)(count_tokens)
        self.max_tokens = max_tokens
        self.chunk_size_tokens = chunk_size_tokens
        self.chunk_overlap_tokens = chunk_overlap_tokens
        self._special = count_tokens("")  # [CLS] and [SEP] for BERT-style models

    @property
    def signature(self) -> str:
        """Identifies the settings; a change means every file must be chunked again."""
        return f"recursive-tokens:{self.chunk_size_tokens}:{self.chunk_overlap_tokens}"

    def _splitter(self, size: int) -> RecursiveCharacterTextSplitter:
        body = max(1, size - self._special)
        return RecursiveCharacterTextSplitter(
            separators=SEPARATORS, is_separator_regex=True, keep_separator="end",
            chunk_size=body, chunk_overlap=min(self.chunk_overlap_tokens, body - 1),
            length_function=self._body_tokens, strip_whitespace=True)

    def _body_tokens(self, text: str) -> int:
        """Tokens of `text` without the special ones (short texts' counts remembered)."""
        return (self._count_short(text) if len(text) <= SHORT_CHARS else self.count_tokens(text)) - self._special

    def split_text(self, text: str, size: int | None = None) -> list[str]:
        """Split text so every piece fits chunk_size_tokens (special tokens included)."""
        size = size or self.chunk_size_tokens
        limit = min(self.chunk_size_tokens, self.max_tokens)
        pieces: list[str] = []
        for piece in self._splitter(size).split_text(text):
            if not piece.strip():
                continue
            if self.count_tokens(piece) <= limit:
                pieces.append(piece)
            elif size > self.chunk_size_tokens // 4:
                # Token counts of parts do not add up exactly at boundaries: split tighter.
                pieces.extend(self.split_text(piece, int(size * 0.8)))
            else:
                pieces.extend(self._hard_split(piece, limit))
        return pieces

    def _hard_split(self, text: str, limit: int) -> list[str]:
        """Last resort: the longest character prefixes that fit `limit` tokens."""
        pieces = []
        while text:
            low, high = 1, len(text)
            while low < high:  # largest prefix length whose token count fits
                mid = (low + high + 1) // 2
                if self.count_tokens(text[:mid]) <= limit:
                    low = mid
                else:
                    high = mid - 1
            pieces.append(text[:low])
            text = text[low:].lstrip()
        return [p for p in pieces if p.strip()]

    def split_page(self, page: Page) -> list[Chunk]:
        """Chunks of one page; its section, and the Markdown headings in its text, become the section."""
        sections = markdown_sections(page.text) if page.headings else [("", page.text)]
        if page.section:
            sections = [(" > ".join(p for p in (page.section, name) if p), text) for name, text in sections]
        chunks: list[Chunk] = []
        for section, text in sections:
            for piece in self.split_text(text):
                position = len(chunks)
                chunks.append(Chunk(id=chunk_id(page.source, page.page, position), text=piece,
                                    source=page.source, page=page.page, position=position,
                                    content_hash=content_hash(piece), section=section, title=page.title,
                                    ocr=page.ocr))
        return chunks

    def split_pages(self, pages: list[Page]) -> list[Chunk]:
        """Chunks of every page, in order."""
        return [chunk for page in pages for chunk in self.split_page(page)]

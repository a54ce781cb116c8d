"""What a retriever sees of a lexical index, and which words of a question it looks up."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from rag.types import Chunk, Hit, ResolvedFilter

# Words too common to rank by; dropping them keeps a query's postings small.
STOPWORDS = frozenset(["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "may", "me", "might", "more", "most", "my", "no", "not", "of", "on", "or", "our", "she", "should", "so", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "whose", "why", "will", "with", "would", "you", "your"])


class LexicalIndex(Protocol):
    """Keyword-ranked chunks, kept in step with the vector store by chunk id."""

    def upsert(self, chunks: Sequence[Chunk]) -> None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def ids(self) -> set[str]: ...
    def id_hashes(self) -> dict[str, str]: ...
    def count(self) -> int: ...
    def distinct(self, field: str) -> list[str]: ...
    def search(self, question: str, k: int, where: ResolvedFilter | None = None) -> list[Hit]: ...


def query_words(text: str) -> list[str]:
    """The distinct content words of `text` (all its words when only stopwords are left).
    Words are matched as plain terms, so user text (`C++`, `NEAR`, `"`) is never syntax."""
    words = re.findall(r"\w+", text.lower())
    return list(dict.fromkeys([w for w in words if w not in STOPWORDS] or words))


@runtime_checkable
class Checkpointing(Protocol):
    """A lexical index with a write-ahead log it can fold into its main file (SQLite)."""

    def checkpoint(self) -> None: ...

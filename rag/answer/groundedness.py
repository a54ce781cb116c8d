"""Reference-free groundedness: how well the retrieved text supports an answer.

The chain uses it to withdraw unsupported answers (`answer.min_support`); the evaluation
harness uses it for `unsupported_rate` and `detector_auc`.

Steps: (1) split the answer into claims (sentences), dropping citation marks; (2) score each
claim by content-word support (share of its content words found in the retrieved text) and
embedding similarity (best cosine to a retrieved sentence); (3) the answer's score is its
weakest claim. A stronger local judge (an NLI model) can replace it behind the same Protocol.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from rag.embedding import Embedder

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)

STOPWORDS = frozenset(["a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "there", "their", "they", "them", "he", "she", "his", "her", "we", "our", "you", "your", "i", "me", "my", "not", "no", "so", "than", "then", "too", "very", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "do", "does", "did", "done", "have", "has", "had", "having", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "only", "own", "same", "into", "over", "under", "again", "further", "about", "against", "between", "through", "during", "before", "after", "above", "below", "up", "down", "out", "off", "also", "just"])


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


class GroundednessScorer(Protocol):
    def score(self, answer: str, contexts: Sequence[str]) -> float:
        """Support of `answer` by `contexts`, from 0 (none) to 1 (fully supported)."""
        ...


def claims(answer: str) -> list[str]:
    """Sentences of the answer without citation marks; empty ones dropped."""
    text = re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", "", answer)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if normalize_answer(s)]


def content_words(text: str) -> set[str]:
    return {w for w in normalize_answer(text).split() if w not in STOPWORDS and len(w) > 1}


class LexicalEmbeddingScorer:
    """Content-word support and embedding similarity, averaged per claim (weights configurable).

    Args:
        embedder: any Embedder (the index's MiniLM in the harness); None uses words only.
        word_weight: weight of content-word support; the rest goes to embedding similarity.
    """

    def __init__(self, embedder: Embedder | None = None, word_weight: float = 0.5) -> None:
        if not 0.0 <= word_weight <= 1.0:
            raise ValueError(f"word_weight ({word_weight}) must be between 0 and 1")
        self.embedder = embedder
        self.word_weight = word_weight if embedder is not None else 1.0

    def score(self, answer: str, contexts: Sequence[str]) -> float:
        parts = claims(answer)
        context_text = "\n".join(contexts)
        if not parts or not context_text.strip():
            return 0.0
        available = content_words(context_text)
        support = [len(content_words(c) & available) / max(1, len(content_words(c))) for c in parts]
        if self.word_weight >= 1.0 or self.embedder is None:
            return float(min(support))
        sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", context_text) if s.strip()]
        claim_vectors = self.embedder.embed_documents(parts)
        sentence_vectors = self.embedder.embed_documents(sentences)
        similarity = np.clip((claim_vectors @ sentence_vectors.T).max(axis=1), 0.0, 1.0)
        combined = [self.word_weight * s + (1 - self.word_weight) * float(v)
                    for s, v in zip(support, similarity)]
        return float(min(combined))

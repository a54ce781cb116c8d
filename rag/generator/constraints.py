"""Extractive decoding: restrict each generated token to continuations of a verbatim span of
the given texts, or of the refusal sentence. Pure Python over token ids, so it is testable
without a model and usable by any backend that can mask logits.

The allowed set is the union of three things: (1) the next token of every place in a text where
the tokens generated so far occur, (2) the next token of the refusal while the output is a prefix
of it, (3) end-of-answer once the output is a whole span or the whole refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SpanMatch:
    """Where an extractive answer lies: text `text_index`, tokens [token_start, token_end)."""

    text_index: int
    token_start: int
    token_end: int


class SpanConstraint:
    """State of one extractive decode.

    Args:
        texts: token ids of each text the answer may be copied from.
        refusal: token ids of the refusal sentence (as the model emits it).
        eos_ids: tokens that end the answer.

    Raises:
        ValueError: no text and no refusal (nothing could be emitted), or no end token.
    """

    def __init__(self, texts: Sequence[Sequence[int]], refusal: Sequence[int], eos_ids: Sequence[int]) -> None:
        if not any(texts) and not refusal:
            raise ValueError("SpanConstraint needs at least one non-empty text or a refusal")
        if not eos_ids:
            raise ValueError("SpanConstraint needs at least one end-of-answer token id")
        self.texts = [list(t) for t in texts]
        self.refusal = list(refusal)
        self.eos_ids = frozenset(eos_ids)
        # Places where the output so far ends: (text index, position of the next token).
        self._places = [(i, p) for i, t in enumerate(self.texts) for p in range(len(t))]
        self._refusal_at: int | None = 0 if self.refusal else None
        self.length = 0

    def allowed(self) -> set[int]:
        """Token ids that keep the output a span of a text or a prefix of the refusal."""
        allowed = {self.texts[i][p] for i, p in self._places if p < len(self.texts[i])}
        if self._refusal_at is not None:
            if self._refusal_at < len(self.refusal):
                allowed.add(self.refusal[self._refusal_at])
            else:
                allowed |= self.eos_ids
        if self.length and self._places:
            allowed |= self.eos_ids
        return allowed

    def advance(self, token: int) -> None:
        """Record the emitted token.

        Raises:
            ValueError: `token` was not allowed.
        """
        if token in self.eos_ids:
            return
        places = [(i, p + 1) for i, p in self._places if p < len(self.texts[i]) and self.texts[i][p] == token]
        at = self._refusal_at
        refusal_at = at + 1 if at is not None and at < len(self.refusal) and self.refusal[at] == token else None
        if not places and refusal_at is None:
            raise ValueError(f"token {token} is not a continuation of any span or of the refusal")
        self._places, self._refusal_at = places, refusal_at
        self.length += 1

    @property
    def is_refusal(self) -> bool:
        """The output so far is the whole refusal sentence."""
        return self._refusal_at is not None and self._refusal_at == len(self.refusal)

    def match(self) -> SpanMatch | None:
        """The first place the output was copied from (None before any token, or for the refusal)."""
        if not self.length or not self._places or self.is_refusal:
            return None
        index, end = self._places[0]
        return SpanMatch(index, end - self.length, end)

"""Answer voting: several drafts of one answer, each from the same retrieved chunks shown in
another order, and the majority after normalisation.

Why chunk order: the model decodes greedily, so asking it again gives the same draft; sampling a
135M-parameter model mostly adds noise; other prompts are not what the adapter was trained on.
Small models lean on the block they read first, so rotating which chunk comes first varies the
draft exactly where it is fragile, while every draft still sees all of the evidence.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from rag.answer.groundedness import normalize_answer
from rag.types import Answer, Hit

REFUSAL_VOTE = "<refusal>"


def vote_orders(n_hits: int, votes: int) -> list[tuple[int, ...]]:
    """`votes` orders of hit indices: the retrieved order first, then rotations bringing the
    2nd, 3rd, ... hit to the front, then reversed rotations; repeated when there are fewer
    distinct orders than votes."""
    base = list(range(n_hits))
    orders: list[tuple[int, ...]] = []
    for reverse in (False, True):
        for shift in range(max(n_hits, 1)):
            rotated = base[shift:] + base[:shift]
            order = tuple(reversed(rotated) if reverse else rotated)
            if order not in orders:
                orders.append(order)
    return [orders[i % len(orders)] for i in range(votes)]


def vote_key(text: str, refused: bool) -> str:
    """What a draft votes for: the refusal, or its SQuAD-normalised text without [n] citations."""
    return REFUSAL_VOTE if refused else normalize_answer(re.sub(r"\[\d+\]", " ", text))


def majority(keys: Sequence[str]) -> tuple[str | None, dict[str, int]]:
    """(the key more than half of the votes share, or None; votes per key, most first)."""
    if not keys:
        raise ValueError("majority needs at least one vote")
    split = dict(Counter(keys).most_common())
    best, count = next(iter(split.items()))
    return (best if 2 * count > len(keys) else None), split


def in_retrieval_order(answer: Answer, hits: tuple[Hit, ...]) -> Answer:
    """A draft's sources put back in retrieval order, its cited blocks and span renumbered to
    match (a voted draft saw the chunks in another order)."""
    rank = {h.chunk.id: i for i, h in enumerate(hits)}
    order = sorted(range(len(answer.sources)), key=lambda i: rank.get(answer.sources[i].chunk_id, i))
    number = {old + 1: new + 1 for new, old in enumerate(order)}
    span = replace(answer.span, block=number[answer.span.block]) if answer.span else None
    return replace(answer, sources=tuple(answer.sources[i] for i in order), span=span,
                   cited=tuple(sorted(number[c] for c in answer.cited if c in number)))

"""Training examples built through the pipeline itself: the same retriever, k, prompt builder and
template that `ask` uses, so the adapter learns on exactly what it will see (distractors too).

Targets: the gold answer as a short span when a gold answer is in the prompt's blocks; the
refusal sentence for an unanswerable question and for an answerable one whose answer was not
retrieved. Quotas keep the mix of kinds fixed whatever the pool holds.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.answer.prompt import build_prompt
from rag.chain import PROMPT_MARGIN_TOKENS, RagChain
from rag.datasets import EvalItem

SPAN, UNANSWERABLE, NOT_RETRIEVED = "span", "refusal_unanswerable", "refusal_not_retrieved"
KINDS = (SPAN, UNANSWERABLE, NOT_RETRIEVED)
DEFAULT_SHARES = {SPAN: 0.5, UNANSWERABLE: 0.3, NOT_RETRIEVED: 0.2}


@dataclass(frozen=True)
class Example:
    """One prompt (chat messages, as `ask` builds it) and the answer the model should give."""

    id: str
    kind: str
    messages: tuple[dict[str, str], ...]
    target: str
    article: str = ""


def gold_in_blocks(answers: Sequence[str], texts: Sequence[str]) -> str | None:
    """The first gold answer that occurs verbatim in the prompt's blocks, else None."""
    for answer in answers:
        if answer.strip() and any(answer.strip() in text for text in texts):
            return answer.strip()
    return None


def example_for(item: EvalItem, chain: RagChain, count_tokens: Any, budget: int) -> Example:
    """Retrieve and build the prompt exactly as `ask` does, then pick the target."""
    s = chain.settings
    assert chain.retriever is not None
    hits = chain.retriever.retrieve(item.question, s.k).hits
    prompt = build_prompt(item.question, hits, template=chain.template, refusal=s.refusal,
                          count_tokens=count_tokens, budget=budget)
    if item.answerable is False or not item.answers:
        kind, target = UNANSWERABLE, s.refusal
    else:
        found = gold_in_blocks(item.answers, prompt.texts)
        kind, target = (SPAN, found) if found is not None else (NOT_RETRIEVED, s.refusal)
    return Example(item.id, kind, prompt.messages, target, item.article)


def build_examples(items: Sequence[EvalItem], chain: RagChain, limit: int, seed: int = 0,
                   shares: dict[str, float] | None = None, progress: bool = True) -> list[Example]:
    """Up to `limit` examples in the given shares of kinds (default 50% span, 30% unanswerable,
    20% not retrieved); a kind the pool runs short of is filled with the others.

    Args:
        items: the training questions (already split by article).
        chain: a RagChain wired like `ask` (retriever, generator for token counts, settings).
        limit: examples wanted.
        seed: fixes the order questions are drawn in.
    """
    shares = shares or DEFAULT_SHARES
    generator = chain.generator
    budget = generator.context_window - chain.settings.max_new_tokens - PROMPT_MARGIN_TOKENS
    quota = {kind: round(limit * shares.get(kind, 0.0)) for kind in KINDS}
    pool = list(items)
    random.Random(seed).shuffle(pool)
    chosen: list[Example] = []
    spare: list[Example] = []  # over quota, used to fill a kind the pool runs short of
    bar = tqdm(total=limit, desc="examples", unit="ex", disable=not progress)
    for item in pool:
        if len(chosen) >= limit:
            break
        wanted_kind = UNANSWERABLE if item.answerable is False else None
        if wanted_kind is not None and sum(e.kind == wanted_kind for e in chosen) >= quota[wanted_kind]:
            continue  # a full kind known before retrieval: skip the work
        example = example_for(item, chain, generator.count_prompt_tokens, budget)
        if sum(e.kind == example.kind for e in chosen) < quota[example.kind]:
            chosen.append(example)
            bar.update(1)
        elif len(spare) < limit:
            spare.append(example)
    bar.close()
    chosen += spare[:max(0, limit - len(chosen))]
    random.Random(seed).shuffle(chosen)
    return chosen


def kind_counts(examples: Iterable[Example]) -> dict[str, int]:
    """How many examples of each kind, every kind named."""
    counts = Counter(e.kind for e in examples)
    return {kind: counts.get(kind, 0) for kind in KINDS}


def write_examples(examples: Sequence[Example], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(asdict(e), ensure_ascii=False) + "\n" for e in examples),
                    encoding="utf-8")


def read_examples(path: Path) -> list[Example]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Example(r["id"], r["kind"], tuple(r["messages"]), r["target"], r.get("article", ""))
            for r in rows]

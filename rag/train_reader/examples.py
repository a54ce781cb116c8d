"""Reading examples for the reader: a question, one passage, and where the answer lies in it
(or None: the passage does not answer it).

Kinds, and why each is in the mix:
- `paragraph`: a SQuAD question read against its own paragraph (answerable): learning to read.
- `unanswerable`: SQuAD 2.0's adversarial questions against their own paragraph: the null on
  passages that look as if they answered (only train10 and dev19 hold them; scarce, repeated).
- `swap`: an answerable question with one entity, year, number or word swapped so its own
  paragraph no longer answers it (rag.train_reader.swaps): refusal where human negatives are scarce.
- `retrieved`: the pipeline's own retrieval (hybrid, k chunks, the real chunker) over articles of
  the training pool: a retrieved chunk holding the gold answer is a span example, one lacking it
  teaches the null on exactly the distractors the reader meets in `ask`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.datasets import load_squad_json
from rag.errors import InputError

PARAGRAPH, UNANSWERABLE, RETRIEVED_SPAN, RETRIEVED_NULL = "paragraph", "unanswerable", "retrieved_span", "retrieved_null"
SWAP = "swap"
KINDS = (PARAGRAPH, UNANSWERABLE, SWAP, RETRIEVED_SPAN, RETRIEVED_NULL)


@dataclass(frozen=True)
class ReadingExample:
    """One question read against one passage; `answer_start` None means no answer in it."""

    id: str
    kind: str
    question: str
    passage: str
    answer_start: int | None = None
    answer_text: str = ""
    article: str = ""


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    article: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]  # (text, start in context); empty when unanswerable


def squad_questions(paths: Sequence[str | Path]) -> list[SquadQuestion]:
    """Every question of SQuAD 1.1 / 2.0 files, in file order. An article found in several
    files is kept from a SQuAD 2.0 one (it marks `is_impossible`), else from the first: train10's
    articles are also in the SQuAD 1.1 file, and their questions must not count twice.

    Raises:
        InputError: a missing or malformed file, or one without questions.
    """
    chosen: dict[str, tuple[bool, list[SquadQuestion]]] = {}  # title -> (from SQuAD 2.0, questions)
    for path in paths:
        found = 0
        for article in load_squad_json(path):
            qas = [(p["context"], qa) for p in article["paragraphs"] for qa in p.get("qas", [])]
            found += len(qas)
            v2 = any("is_impossible" in qa for _, qa in qas)
            if article["title"] in chosen and (chosen[article["title"]][0] or not v2):
                continue
            chosen[article["title"]] = (v2, [_question(article["title"], context, qa) for context, qa in qas])
        if not found:
            raise InputError(f"{path}: a SQuAD file without questions (expected "
                             "data[].paragraphs[].qas[])")
    return [q for _, questions in chosen.values() for q in questions]


def _question(title: str, context: str, qa: dict[str, Any]) -> SquadQuestion:
    golds = () if qa.get("is_impossible") else tuple((a["text"], int(a["answer_start"])) for a in qa.get("answers", []))
    return SquadQuestion(str(qa["id"]), title, qa["question"], context, golds)


def paragraph_examples(questions: Sequence[SquadQuestion]) -> list[ReadingExample]:
    """Each question against its own paragraph (the first gold answer as the target)."""
    out = []
    for q in questions:
        if q.answers:
            text, start = q.answers[0]
            if q.context[start:start + len(text)] != text:
                continue  # an offset that does not match its text teaches nothing reliable
            out.append(ReadingExample(q.id, PARAGRAPH, q.question, q.context, start, text, q.article))
        else:
            out.append(ReadingExample(q.id, UNANSWERABLE, q.question, q.context, None, "", q.article))
    return out


def retrieved_examples(question: SquadQuestion, chunk_texts: Sequence[str]) -> list[ReadingExample]:
    """The question against each chunk retrieval gave it: a span where a gold answer occurs
    in the chunk (its first occurrence), else the null."""
    out = []
    for n, text in enumerate(chunk_texts):
        found = next(((a, text.find(a)) for a, _ in question.answers if a.strip() and a in text), None)
        if found is not None:
            out.append(ReadingExample(f"{question.id}#r{n}", RETRIEVED_SPAN, question.question, text,
                                      found[1], found[0], question.article))
        else:
            out.append(ReadingExample(f"{question.id}#r{n}", RETRIEVED_NULL, question.question, text,
                                      None, "", question.article))
    return out


def mix(pools: dict[str, list[ReadingExample]], counts: dict[str, int], seed: int) -> list[ReadingExample]:
    """`counts[kind]` examples of each kind, drawn without replacement while the pool lasts and
    repeated after (scarce kinds are repeated rather than left short), shuffled by `seed`."""
    rng = random.Random(seed)
    chosen: list[ReadingExample] = []
    for kind in KINDS:
        pool = list(pools.get(kind, []))
        want = counts.get(kind, 0)
        if not pool or not want:
            continue
        rng.shuffle(pool)
        chosen += [pool[i % len(pool)] for i in range(want)]
    rng.shuffle(chosen)
    return chosen


def kind_counts(examples: Iterable[ReadingExample]) -> dict[str, int]:
    counts = Counter(e.kind for e in examples)
    return {kind: counts.get(kind, 0) for kind in KINDS}


def to_rows(examples: Sequence[ReadingExample]) -> list[dict[str, Any]]:
    return [asdict(e) for e in examples]


def from_rows(rows: Sequence[dict[str, Any]]) -> list[ReadingExample]:
    return [ReadingExample(**row) for row in rows]

"""Synthetic unanswerable questions made by swaps (Gautam, Zhang and Klakow 2023, "A Lightweight
Method to Generate Unanswerable Questions in English"): from an answerable question, one named
entity, year or number is swapped for another of the same type from the same article, or one
word for its antonym; the paragraph stays. A swap is kept only when the new term occurs nowhere
in the paragraph, so the paragraph cannot answer the new question (and the old term must occur
in it, so the paragraph still looks as if it answered: the hard case SQuAD 2.0 is made of).

Entity types come from an `EntityTagger` (spaCy's small English pipeline in
rag.train_reader.tagger, a training-only extra); years and numbers from a pattern.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.train_reader.examples import SWAP, ReadingExample, SquadQuestion

YEAR, NUMBER = "YEAR", "NUMBER"
_PLAIN = re.compile(r"[\w][\w .,&-]*")  # a name without quotes or brackets (spaCy's cut titles)
_NUMERIC = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\w)")
# Pairs whose swap turns a question about one thing into one about its opposite.
# "a>b" swaps one way only: the other word is also a verb or noun too often ("how long did it last").
_PAIRS = ("first>last", "largest smallest", "biggest smallest", "highest lowest", "most least",
          "before after", "earliest latest", "oldest newest", "longest shortest", "more less",
          "increase decrease", "increased decreased", "higher lower", "larger smaller", "north south",
          "east west", "northern southern", "eastern western", "maximum minimum", "major minor",
          "early late", "inside outside", "above below", "won>lost",
          "accept reject", "accepted rejected", "allowed banned", "legal illegal", "positive negative",
          "strongest weakest", "richest poorest", "best worst", "began>ended", "public private", "internal external", "ancient modern", "upper lower")
ANTONYMS: dict[str, str] = {}
for _pair in _PAIRS:
    _a, _b = _pair.replace(">", " ").split()
    ANTONYMS.setdefault(_a, _b)
    if ">" not in _pair:
        ANTONYMS.setdefault(_b, _a)


@dataclass(frozen=True)
class Mention:
    """A typed stretch of a text: its characters and its type (PERSON, GPE, YEAR, ...)."""

    text: str
    label: str


class EntityTagger(Protocol):
    def tag(self, texts: Sequence[str]) -> list[list[Mention]]:
        """The named entities of each text."""
        ...


def numeric_mentions(text: str) -> list[Mention]:
    """Years (1000-2099 alone) and other numbers, by pattern."""
    out = []
    for match in _NUMERIC.finditer(text):
        value = match.group()
        out.append(Mention(value, YEAR if re.fullmatch(r"1\d{3}|20\d{2}", value) else NUMBER))
    return out


def _occurs(term: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text, flags=re.IGNORECASE) is not None


def _whole(term: str, question: str) -> bool:
    """`term` stands alone in `question`: not part of a longer name ("Destiny" of "Destiny's
    Child", "Lok" of "Lok-Ham Chan", "iPod" of "iPod Touch") that the tagger cut short."""
    at = question.find(term)
    if at < 0:
        return False
    before, after = question[:at].rstrip(), question[at + len(term):]
    name_after = re.match(r"(?:'s)?[\s-]+[A-Z0-9]", after) or after[:1] in ("-", "'") and not after.startswith("'s ")
    return not name_after and not re.search(r"[A-Z][\w'-]*$", before[-30:] if at else "")


def _same_entity(old: str, new: str, names: list[str]) -> bool:
    """`new` shares a word with `old`, or one name of the pool holds both ("Frédéric" and
    "Chopin" in "Frédéric Chopin")."""
    old_words, new_words = set(old.lower().split()), set(new.lower().split())
    if old_words & new_words:
        return True
    return any(old_words <= set(n.lower().split()) and new_words <= set(n.lower().split()) for n in names)


def article_pools(questions: Sequence[SquadQuestion], tagged: Sequence[list[Mention]]) -> dict[str, dict[str, list[str]]]:
    """Per article and type, the terms its questions and paragraphs name (sorted: the same
    pools for the same data)."""
    pools: dict[str, dict[str, set[str]]] = {}
    seen_contexts: set[int] = set()
    for q, mentions in zip(questions, tagged):
        by_type = pools.setdefault(q.article, {})
        found = list(mentions)
        if id(q.context) not in seen_contexts:
            seen_contexts.add(id(q.context))
            found += numeric_mentions(q.context)
        for m in found:
            by_type.setdefault(m.label, set()).add(m.text)
    return {a: {label: sorted(terms) for label, terms in t.items()} for a, t in pools.items()}


def candidate_swaps(q: SquadQuestion, mentions: Sequence[Mention], pool: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Every (old term, new term) edit of `q` that keeps the rules above."""
    answers = [a for a, _ in q.answers]
    edits = []
    for m in [*mentions, *numeric_mentions(q.question)]:
        if not _occurs(m.text, q.context) or not _whole(m.text, q.question) or \
                any(m.text in a or a in m.text for a in answers):
            continue
        names = pool.get(m.label, [])
        for new in names:
            if _PLAIN.fullmatch(new) and not _same_entity(m.text, new, names) and not _occurs(new, q.context) and \
                    not any(_occurs(new, a) for a in answers):
                edits.append((m.text, new))
    for word in re.findall(r"[A-Za-z]+", q.question):
        opposite = ANTONYMS.get(word.lower())
        if opposite and not _occurs(opposite, q.context):
            edits.append((word, opposite if word.islower() else opposite.capitalize()))
    return edits


def swap_question(question: str, old: str, new: str) -> str:
    """`question` with its first whole-word `old` replaced by `new`."""
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", lambda _: new, question, count=1)


def make_swaps(questions: Sequence[SquadQuestion], tagger: EntityTagger, seed: int,
               limit: int | None = None) -> list[ReadingExample]:
    """At most one swapped, unanswerable question per answerable question, `limit` at most,
    drawn by `seed` (the same seed and data give the same swaps).

    Returns:
        `swap` examples: the new question against the original paragraph, no answer.
    """
    chosen = [q for q in questions if q.answers]
    tagged = tagger.tag([q.question for q in chosen])
    pools = article_pools(chosen, tagged)
    rng = random.Random(seed)
    order = list(range(len(chosen)))
    rng.shuffle(order)
    out: list[ReadingExample] = []
    for i in order:
        if limit is not None and len(out) >= limit:
            break
        q = chosen[i]
        edits = candidate_swaps(q, tagged[i], pools.get(q.article, {}))
        if not edits:
            continue
        old, new = edits[rng.randrange(len(edits))]
        text = swap_question(q.question, old, new)
        out.append(ReadingExample(f"{q.id}#swap", SWAP, text, q.context, None, "", q.article))
    return out

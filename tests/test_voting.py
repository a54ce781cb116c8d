"""Answer voting on a scripted fake generator: majority, tie, all refusals, what is recorded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import write_docs

from rag import Pipeline
from rag.answer.voting import REFUSAL_VOTE, majority, vote_orders
from rag.generator.base import StreamReport

DOCS = {f"doc{i}.txt": f"Fact number {i} about the harbour lighthouse keeper." for i in range(4)}


class ScriptedGenerator:
    """Answers from a script, one entry per call, and records the block order it was shown."""

    name = "scripted"
    context_window = 2048

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.orders: list[list[str]] = []

    def count_prompt_tokens(self, messages: Any) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def stream(self, messages: Any, max_new_tokens: int, stats: StreamReport | None = None,
               decoding: Any = None) -> Iterator[str]:
        self.orders.append(re.findall(r'source="(?:[^/"]+/)?(doc\d)', messages[-1]["content"]))
        text = self.script[len(self.orders) - 1]
        if stats is not None:
            stats.tokens, stats.prompt_tokens = len(text.split()), 100
        yield text


@pytest.fixture
def index(tmp_path: Path) -> Path:
    from rag.fakes import HashEmbedder

    Pipeline(index=tmp_path / "index", embedder=HashEmbedder()).ingest(write_docs(tmp_path / "docs", DOCS),
                                                                       progress=False)
    return tmp_path / "index"


def ask(index: Path, script: list[str], votes: int) -> tuple[Any, ScriptedGenerator]:
    from rag.fakes import HashEmbedder

    generator = ScriptedGenerator(script)
    p = Pipeline(engine="generator", index=index, embedder=HashEmbedder(), generator=generator, votes=votes, mode="free",
                 min_support=None)
    return p.ask("What about the harbour lighthouse keeper?"), generator


def test_majority_after_normalisation_wins_and_every_draft_is_recorded(index: Path) -> None:
    answer, generator = ask(index, ["The Lighthouse.", "Harbour", "lighthouse"], votes=3)
    assert not answer.refused and answer.text == "The Lighthouse."
    assert answer.votes == (("lighthouse", 2), ("harbour", 1))
    assert answer.drafts == ("The Lighthouse.", "Harbour", "lighthouse")
    assert answer.timings.tokens_generated == 4 and answer.timings.prompt_tokens == 300  # all 3 drafts
    # Each draft saw every chunk, a different one first.
    assert len({tuple(o) for o in generator.orders}) == 3 and all(len(o) == 4 for o in generator.orders)
    assert len({o[0] for o in generator.orders}) == 3


def test_no_majority_is_a_refusal(index: Path) -> None:
    answer, _ = ask(index, ["Harbour", "Lighthouse"], votes=2)
    assert answer.refused and answer.reason == "no majority" and answer.text == "I don't know."
    assert dict(answer.votes) == {"harbour": 1, "lighthouse": 1}
    three_way, _ = ask(index, ["a keeper", "harbour", "the lamp"], votes=3)
    assert three_way.refused and three_way.reason == "no majority" and len(three_way.drafts) == 3


def test_all_refusals_refuse_and_a_refusal_majority_beats_an_answer(index: Path) -> None:
    answer, _ = ask(index, ["I don't know."] * 3, votes=3)
    assert answer.refused and answer.votes == ((REFUSAL_VOTE, 3),)
    mostly, _ = ask(index, ["Harbour", "I don't know.", "I don't know."], votes=3)
    assert mostly.refused and mostly.text == "I don't know." and mostly.drafts[0] == "Harbour"


def test_the_voted_answer_reports_sources_in_retrieval_order_with_its_citation_renumbered(index: Path) -> None:
    single, _ = ask(index, ["Harbour"], votes=1)
    answer, generator = ask(index, ["Harbour", "Lighthouse [1]", "lighthouse"], votes=3)
    assert answer.text == "Lighthouse [1]" and answer.votes[0] == ("lighthouse", 2)  # [n] does not split votes
    assert [s.chunk_id for s in answer.sources] == [s.chunk_id for s in single.sources]
    # The winning draft's block 1 was the second retrieved chunk.
    assert generator.orders[1][0] == generator.orders[0][1] and answer.cited == (2,)


def test_one_vote_streams_the_single_draft(index: Path) -> None:
    answer, generator = ask(index, ["Harbour"], votes=1)
    assert answer.text == "Harbour" and answer.votes == () and len(generator.orders) == 1


def test_vote_orders_and_majority_by_hand() -> None:
    assert vote_orders(3, 3) == [(0, 1, 2), (1, 2, 0), (2, 0, 1)]
    assert vote_orders(2, 4) == [(0, 1), (1, 0), (0, 1), (1, 0)]  # only two distinct orders
    assert vote_orders(3, 4)[3] == (2, 1, 0)
    assert majority(["a", "b", "a"]) == ("a", {"a": 2, "b": 1})
    assert majority(["a", "b"])[0] is None
    assert majority(["a", "a", "b", "b"])[0] is None

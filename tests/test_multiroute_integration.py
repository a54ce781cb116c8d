"""Multi-route recall with the real MiniLM, SmolLM2 (packaged adapter) and Chroma."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag import Pipeline

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_route_finds_the_packet_switching_chunk(demo_index: Path, minilm, mode: str) -> None:
    hits = Pipeline(index=demo_index, embedder=minilm, retrieval=mode).retriever().retrieve(
        "Who invented packet switching?", 4).hits
    assert any("Donald Davies" in h.chunk.text for h in hits)


def test_three_votes_agree_on_the_demo_answer(demo_index: Path, minilm) -> None:
    answer = Pipeline(engine="generator", index=demo_index, embedder=minilm, votes=3).ask("Who invented packet switching?")
    assert answer.text == "Donald Davies" and not answer.refused
    assert len(answer.drafts) == 3 and answer.votes[0][0] == "donald davies" and answer.votes[0][1] >= 2
    assert answer.timings.prompt_tokens > 3 * 100  # the three prompts are all counted


def test_cli_ask_with_a_source_filter_and_lexical_route(demo_index: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "What do B cells produce?",
                             "--index", str(demo_index), "--json", "--retrieval", "lexical",
                             "--source", "Steam*", "--max-new-tokens", "16"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["sources"] and {s["source"] for s in out["sources"]} == {"wiki-demo/Steam_engine.md"}  # a glob over paths in roots
    bad = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "x", "--index", str(demo_index),
                          "--pages", "seven"], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "pages must look like" in bad.stderr

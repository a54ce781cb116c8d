"""Asking with the real SmolLM2, MiniLM and Chroma: answers, adapters, streaming, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import save_random_lora

from rag import Pipeline
from rag.errors import ModelLoadError
from rag.generator import TransformersGenerator
from rag.generator.transformers_lm import HFCodec

pytestmark = pytest.mark.integration
MESSAGES = [{"role": "user", "content": "Name three colours of the rainbow."}]


def logits(generator: TransformersGenerator) -> torch.Tensor:
    ids = HFCodec(generator.tokenizer).chat_ids(MESSAGES)
    with torch.inference_mode():
        return generator.model(input_ids=torch.tensor([ids])).logits




def test_a_question_the_corpus_answers_gets_the_answer_and_source(demo_index: Path, minilm, smollm) -> None:
    p = Pipeline(engine="generator", index=demo_index, embedder=minilm, generator=smollm, mode="free")
    answer = p.ask("What do B cells produce?")
    assert "antibod" in answer.text.lower() and not answer.refused
    assert answer.sources[0].source == "wiki-demo/Immune_system.md"
    t = answer.timings
    assert t.tokens_generated > 0 and t.prompt_tokens > 200 and t.time_to_first_token is not None
    assert t.total >= t.generate > 0


def test_pdf_answers_report_their_page(demo_index: Path, minilm, smollm) -> None:
    answer = Pipeline(engine="generator", index=demo_index, embedder=minilm, generator=smollm, mode="free").ask(
        "Where were the Huguenots offered land when they arrived in New Amsterdam?")
    assert any(s.source == "wiki-demo/Huguenot.pdf" and s.page is not None for s in answer.sources)


def test_streaming_equals_non_streaming(demo_index: Path, minilm, smollm) -> None:
    generated = smollm.generate(MESSAGES, 40)
    assert "".join(smollm.stream(MESSAGES, 40)).strip() == generated.text and generated.tokens > 0
    p = Pipeline(engine="generator", index=demo_index, embedder=minilm, generator=smollm, mode="free",
                 max_new_tokens=32)  # enough for several pieces; the default 128 only adds minutes
    question = "What is a steam engine?"
    stream = p.stream(question)
    pieces = list(stream)
    assert len(pieces) > 1
    assert "".join(pieces).strip() == stream.answer.text == p.ask(question).text


def test_a_lora_adapter_loads_and_changes_the_logits(random_adapter: Path, smollm, tmp_path: Path) -> None:
    adapted = TransformersGenerator(adapter=str(random_adapter), merge_adapter=False)
    difference = (logits(adapted) - logits(smollm)).abs().max().item()
    assert difference > 1e-2
    merged = TransformersGenerator(str(smollm.model_folder), adapter=str(random_adapter), cache_dir=tmp_path)
    assert torch.allclose(logits(merged), logits(adapted), atol=1e-3)


def test_merged_weights_are_cached_and_the_next_load_skips_the_merge(
        random_adapter: Path, smollm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import rag.generator.transformers_lm as lm

    adapter = shutil.copytree(random_adapter, tmp_path / "adapter")
    first = TransformersGenerator(str(smollm.model_folder), adapter=str(adapter), cache_dir=tmp_path)
    cached = [p for p in tmp_path.iterdir() if "+" in p.name]
    assert len(cached) == 1 and (cached[0] / "model.safetensors").is_file()
    monkeypatch.setattr(lm, "attach_adapter", lambda *a, **k: pytest.fail("merged again"))
    again = TransformersGenerator(str(smollm.model_folder), adapter=str(adapter), cache_dir=tmp_path)
    assert torch.equal(logits(again), logits(first))
    off = again.without_adapter()  # the base weights, not the merged cache
    assert torch.equal(logits(off), logits(smollm))
    (adapter / "adapter_config.json").write_text(
        (adapter / "adapter_config.json").read_text(encoding="utf-8") + "\n", encoding="utf-8")
    monkeypatch.undo()
    for _ in range(2):  # another adapter, another key; then a third: only the newest two are kept
        TransformersGenerator(str(smollm.model_folder), adapter=str(adapter), cache_dir=tmp_path)
        (adapter / "adapter_config.json").write_text(
            (adapter / "adapter_config.json").read_text(encoding="utf-8") + "\n", encoding="utf-8")
    kept = [p for p in tmp_path.iterdir() if "+" in p.name]
    assert len(kept) == 2 and cached[0] not in kept


def test_a_missing_adapter_or_one_for_another_model_is_refused(tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    with pytest.raises(ModelLoadError, match="not a PEFT adapter folder"):
        TransformersGenerator(adapter=str(tmp_path / "nowhere"))
    tiny = LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=49152))
    other = save_random_lora(tiny, tmp_path / "other")
    with pytest.raises(ModelLoadError, match="does not fit generator"):
        TransformersGenerator(adapter=str(other))


def test_cli_ask_json_has_the_documented_keys(demo_index: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "What do B cells produce?",
                             "--index", str(demo_index), "--json", "--max-new-tokens", "24"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"answer", "refused", "reason", "support", "draft", "sources", "timings"} <= set(out)
    assert set(out["sources"][0]) == {"source", "page", "section", "chunk_id", "score", "snippet"}
    assert out["sources"][0]["section"]  # the demo articles are Markdown with headings
    assert {"embed_query", "retrieve", "generate", "total"} <= set(out["timings"])


def test_an_answer_from_memory_is_withdrawn_unless_the_check_is_off(demo_index: Path) -> None:
    def ask(*extra: str) -> dict:
        result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "What is the capital of Peru?",
                                 "--index", str(demo_index), "--json", "--max-new-tokens", "24",
                                 "--engine", "generator", "--adapter", "none", "--mode", "free", *extra],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    checked = ask()  # the demo corpus says nothing of Peru; the base SmolLM2 answers from memory
    assert checked["refused"] and checked["reason"] == "unsupported" and checked["answer"] == "I don't know."
    assert checked["draft"] and checked["support"] < 0.3
    unchecked = ask("--min-support", "none")
    assert not unchecked["refused"] and unchecked["support"] is None
    assert unchecked["answer"] == checked["draft"]


def test_cli_bad_input_is_one_line_and_non_zero(demo_index: Path, tmp_path: Path) -> None:
    for args in (["ask", "   ", "--index", str(demo_index)], ["ask", "Q?", "--index", str(tmp_path / "no")]):
        result = subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.startswith("rag ask: error:")


def test_a_greedy_loop_is_cut_short(smollm: TransformersGenerator) -> None:
    looping = [{"role": "user", "content": "List the numbers 1.1.1.1.1 in a row, repeating"}]
    smollm.stop_on_loop = False
    try:
        unguarded = smollm.generate(looping, 64)
    finally:
        smollm.stop_on_loop = True
    assert unguarded.tokens == 64  # without the guard the model repeats until the limit
    guarded = smollm.generate(looping, 64)
    assert guarded.tokens < 32
    assert unguarded.text.startswith(guarded.text)  # same greedy path, only stopped earlier

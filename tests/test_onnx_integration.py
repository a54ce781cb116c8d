"""The ONNX Runtime generator with the real SmolLM2 and the packaged adapter: the same answers,
spans and scores as the PyTorch backend, the same prompt ids without transformers, the adapter
switched off like the base model, and a process that answers from the cached graph without
importing torch or transformers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.adapters import resolve_adapter
from rag.generator.base import Decoding, StreamReport

pytestmark = pytest.mark.integration
CONTEXT = ("The Normans were the people who in the 10th and 11th centuries gave their name to "
           "Normandy, a region in France. They were descended from Norse raiders and pirates from "
           "Denmark, Iceland and Norway who, under their leader Rollo, agreed to swear fealty to "
           "King Charles III of West Francia.")
QUESTIONS = ["Who led the Norse raiders?", "In what country is Normandy located?",
             "What is the boiling point of mercury?"]


def messages(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Answer from the context, briefly."},
            {"role": "user", "content": f"Context: {CONTEXT}\nQuestion: {question}"}]


@pytest.fixture(scope="module")
def both():
    from rag.generator import TransformersGenerator
    from rag.generator.onnx_lm import OnnxGenerator

    adapter = resolve_adapter("squad2-grounded")
    return OnnxGenerator(adapter=adapter), TransformersGenerator(adapter=adapter)


def answer(generator, question: str, decoding: Decoding) -> tuple[str, dict]:
    stats = StreamReport()
    return "".join(generator.stream(messages(question), 48, stats, decoding)), stats


@pytest.mark.parametrize("decoding", [Decoding(spans=(CONTEXT,), refusal="I don't know."),
                                      Decoding(refusal="I don't know."), Decoding()])
def test_onnx_answers_as_pytorch_does(both, decoding: Decoding) -> None:
    onnx, torch_lm = both
    for question in QUESTIONS:
        (text, stats), (expected, expected_stats) = answer(onnx, question, decoding), answer(torch_lm, question, decoding)
        assert text == expected
        assert stats.tokens == expected_stats.tokens and stats.span == expected_stats.span
        assert stats.answer_logprob == pytest.approx(expected_stats.answer_logprob, abs=2e-3)
        if decoding.refusal:
            assert stats.refusal_logprob == pytest.approx(expected_stats.refusal_logprob, abs=2e-3)
    assert onnx.generate(messages(QUESTIONS[0]), 48).text == torch_lm.generate(messages(QUESTIONS[0]), 48).text


def test_the_prompt_and_text_match_transformers_tokenizer(both) -> None:
    from rag.generator.transformers_lm import HFCodec

    onnx, torch_lm = both
    hf = HFCodec(torch_lm.tokenizer)
    odd = [{"role": "user", "content": "naïve café — 3½ km\n\n\ttabs “quotes” 日本語 <b>tags</b>"}]
    for chat in (messages(QUESTIONS[0]), odd):
        assert onnx.codec.chat_ids(chat) == hf.chat_ids(chat)
        assert onnx.count_prompt_tokens(chat) == torch_lm.count_prompt_tokens(chat)
    for text in (CONTEXT, " Rollo", "naïve café — 3½ km", "line\r\nbreak  x"):
        assert onnx.codec.encode(text) == hf.encode(text)
        assert onnx.codec.decode(hf.encode(text)[0]) == hf.decode(hf.encode(text)[0])
    assert onnx.eos_ids == torch_lm.eos_ids


def test_switched_off_the_adapter_answers_as_the_base_model(both, smollm) -> None:
    onnx, _ = both
    base = onnx.without_adapter()
    assert base.adapter is None and onnx.adapter is not None
    assert base.runner is onnx.without_adapter().runner  # one base graph, shared
    for question in QUESTIONS[:2]:
        assert answer(base, question, Decoding())[0] == answer(smollm, question, Decoding())[0]
    assert answer(onnx, QUESTIONS[0], Decoding())[0] != answer(base, QUESTIONS[0], Decoding())[0]
    with pytest.raises(ValueError, match="no adapter"):
        base.without_adapter()


def test_a_new_process_answers_without_importing_torch_or_transformers(demo_index: Path, both) -> None:
    script = ("import json, sys\n"
              "from rag import Pipeline\n"
              f"answer = Pipeline(index={str(demo_index)!r}).ask('Who developed packet switching?')\n"
              "print(json.dumps({'text': answer.text,\n"
              "                  'heavy': sorted(m for m in ('torch', 'transformers', 'sentence_transformers')\n"
              "                                  if m in sys.modules)}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["text"]  # the default engine: the reader


def test_the_pipeline_picks_the_configured_backend(tmp_path: Path) -> None:
    from rag import Pipeline
    from rag.generator import TransformersGenerator
    from rag.generator.onnx_lm import OnnxGenerator

    assert isinstance(Pipeline(index=tmp_path / "a").generator(), OnnxGenerator)
    chosen = Pipeline(index=tmp_path / "b", **{"generator.backend": "torch"})
    assert isinstance(chosen.generator(), TransformersGenerator)


def test_a_cached_graph_loads_without_the_merged_weights(random_adapter: Path, smollm, tmp_path: Path) -> None:
    from rag.generator.model_files import merged_folder
    from rag.generator.onnx_lm import OnnxGenerator

    base = str(smollm.model_folder)
    first = OnnxGenerator(base, adapter=str(random_adapter), cache_dir=tmp_path)
    merged = merged_folder(smollm.model_folder, random_adapter, tmp_path)
    assert merged is not None and merged.is_dir() and len(list(tmp_path.glob("*.lm.onnx"))) == 1
    expected = answer(first, QUESTIONS[0], Decoding())
    shutil.rmtree(merged)  # evicted by later adapters
    again = OnnxGenerator(base, adapter=str(random_adapter), cache_dir=tmp_path)
    assert not merged.exists()  # the graph was enough
    assert answer(again, QUESTIONS[0], Decoding()) == expected
    assert expected[0] != answer(OnnxGenerator(base, cache_dir=tmp_path), QUESTIONS[0], Decoding())[0]


def test_rag_ask_answers_without_importing_torch_or_transformers(demo_index: Path, both) -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "rag.cli", "ask", "Who developed packet switching?",
                           "--index", str(demo_index), "--no-stream", "--engine", "generator"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "rag.generator.onnx_lm" in imported and "Sources:" in done.stdout
    assert not imported & {"torch", "transformers", "sentence_transformers", "peft"}


def test_two_answers_at_once_on_lanes_are_the_answers_given_alone() -> None:
    import threading

    from rag.generator.onnx_lm import OnnxGenerator

    laned = OnnxGenerator(adapter=resolve_adapter("squad2-grounded"), lanes=2)
    laned.open_lanes()
    lane = laned.runner.lane_session()
    assert lane is not laned.runner.session
    passes = []
    laned.runner._lane_session = type("Counted", (), {"run": lambda self, *a: passes.append(1) or lane.run(*a)})()
    decoding = Decoding(spans=(CONTEXT,), refusal="I don't know.")
    alone = [answer(laned, q, decoding) for q in QUESTIONS[:2]]
    both_in, together = threading.Barrier(2), {}

    def ask(i: int) -> None:
        both_in.wait()
        together[i] = answer(laned, QUESTIONS[i], decoding)

    threads = [threading.Thread(target=ask, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (text, stats), (expected, expected_stats) in zip((together[0], together[1]), alone):
        assert text == expected and stats.span == expected_stats.span
        assert stats.answer_logprob == pytest.approx(expected_stats.answer_logprob, abs=2e-3)
    assert laned.lanes.running == 0 and len(passes) > 0  # the lane session ran while both did

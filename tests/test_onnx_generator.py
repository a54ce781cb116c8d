"""The ONNX Runtime generator's graph and runner on a small random Llama (real transformers
code, no weights to load): the export agrees with transformers, and greedy decoding through the
ONNX runner gives the same tokens, log-probabilities and refusal score as through PyTorch, also
when the prompt's opening comes from the prefix cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.errors import ConfigError, ModelLoadError
from rag.generator.constraints import SpanConstraint
from rag.generator.decoding import greedy_decode
from rag.generator.onnx_export import UnsupportedModel, export_llama, llama_settings_of
from rag.generator.prefix_cache import PrefixCache

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")


def small_llama(seed: int, **extra: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, **extra)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Any, Any, Path]:
    from rag.generator.onnx_runner import OnnxRunner

    folder = tmp_path_factory.mktemp("llama")
    model = small_llama(0)
    model.save_pretrained(str(folder))
    graph = folder / "model.lm.onnx"
    export_llama(folder, graph)
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    return model, OnnxRunner(session, llama_settings_of(model.config.to_dict())), folder


def decode(runner: Any, ids: list[int], prefix: PrefixCache | None = None, **kw: Any) -> Any:
    steps = greedy_decode(runner, ids, 12, [0], refusal=(5, 6), prefix=prefix, **kw)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def test_the_graph_decodes_as_pytorch_does(exported) -> None:
    from rag.generator.torch_runner import TorchRunner

    model, runner, _ = exported
    for ids in (list(range(10, 40)), [3, 1, 4, 1, 5, 9, 2, 6]):
        expected, got = decode(TorchRunner(model), ids), decode(runner, ids)
        assert got.tokens == expected.tokens and len(got.tokens) > 0
        assert got.answer_logprob == pytest.approx(expected.answer_logprob, abs=1e-3)
        assert got.refusal_logprob == pytest.approx(expected.refusal_logprob, abs=1e-3)


def test_extractive_decoding_through_the_graph_copies_the_same_span(exported) -> None:
    from rag.generator.torch_runner import TorchRunner

    model, runner, _ = exported
    texts = [[20, 21, 22, 23, 24, 25], [30, 31, 32, 33]]
    results = [decode(r, list(range(40, 70)), constraint=SpanConstraint(texts, [5, 6], [0]))
               for r in (TorchRunner(model), runner)]
    assert results[0].tokens == results[1].tokens
    assert results[1].constraint.match() == results[0].constraint.match()


def test_a_cached_opening_decodes_as_a_full_prefill(exported) -> None:
    _, runner, _ = exported
    opening = list(range(10, 40))
    prefix = PrefixCache()
    decode(runner, opening + [41, 42], prefix)
    cache, shared = prefix.start(opening + [50, 51, 52], runner)
    assert shared == len(opening) and cache[0].shape[3] == shared
    reused, full = decode(runner, opening + [50, 51, 52], prefix), decode(runner, opening + [50, 51, 52])
    assert reused.tokens == full.tokens
    assert reused.answer_logprob == pytest.approx(full.answer_logprob, abs=1e-4)


def test_scoring_leaves_the_cache_as_it_was(exported) -> None:
    _, runner, _ = exported
    logits, cache = runner.prefill(list(range(10, 30)), None)
    runner.score(cache, [5, 6, 7])
    after, _ = runner.prefill([31], cache)
    fresh, _ = runner.prefill([31], runner.prefill(list(range(10, 30)), None)[1])
    assert cache[0].shape[3] == 20 and np.allclose(after, fresh, atol=1e-5)


def test_a_graph_that_disagrees_with_transformers_is_refused(exported) -> None:
    from rag.generator.onnx_lm import _check_agreement

    model, _, folder = exported
    other = small_llama(1)
    sample = np.arange(3, 20)[None]
    with torch.no_grad():
        wrong = other(input_ids=torch.tensor(sample)).logits[0].numpy()
        right = model(input_ids=torch.tensor(sample)).logits[0].numpy()
    settings = llama_settings_of(model.config.to_dict())
    _check_agreement(folder / "model.lm.onnx", sample, right, settings, "small")
    with pytest.raises(ModelLoadError, match="disagrees with transformers"):
        _check_agreement(folder / "model.lm.onnx", sample, wrong, settings, "small")


@pytest.mark.parametrize("change", [{"model_type": "gpt2"}, {"attention_bias": True},
                                    {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4}},
                                    {"hidden_act": "gelu"}])
def test_models_the_graph_cannot_express_are_named_unsupported(change: dict[str, Any]) -> None:
    config = small_llama(0).config.to_dict() | change
    with pytest.raises(UnsupportedModel, match="plain Llama"):
        llama_settings_of(config)


def test_the_backend_setting_is_checked() -> None:
    from rag.config.sections import GeneratorConfig

    with pytest.raises(ConfigError, match="generator.backend"):
        GeneratorConfig(backend="tensorrt")
    with pytest.warns(UserWarning, match="runs the generator on PyTorch"):
        GeneratorConfig(merge_adapter=False)


def test_an_export_is_renamed_into_place_only_once_checked_and_old_graphs_are_evicted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from rag.generator import onnx_export, onnx_lm

    def fake_export(weights: Path, target: Path) -> tuple[Any, Any]:
        target.write_bytes(b"graph")
        return np.zeros((1, 2), np.int64), np.zeros((2, 4), np.float32)

    monkeypatch.setattr(onnx_export, "export_llama", fake_export)
    for age, name in enumerate(["d", "c", "b", "a"]):  # a is the oldest
        old = tmp_path / f"{name}.lm.onnx"
        old.write_bytes(b"old")
        os.utime(old, (1_000_000 - age * 1000, 1_000_000 - age * 1000))
    (tmp_path / "embedder-x.onnx").write_bytes(b"not a generator graph")

    def disagree(*_: Any) -> None:
        raise ModelLoadError("disagrees")

    monkeypatch.setattr(onnx_lm, "_check_agreement", disagree)
    with pytest.raises(ModelLoadError):
        onnx_lm._export(tmp_path, tmp_path / "new.lm.onnx", {})
    assert not (tmp_path / "new.lm.onnx").exists() and not list(tmp_path.glob(".export-*"))
    monkeypatch.setattr(onnx_lm, "_check_agreement", lambda *_: None)
    onnx_lm._export(tmp_path, tmp_path / "new.lm.onnx", {})
    kept = sorted(p.name for p in tmp_path.glob("*.onnx"))
    assert kept == ["c.lm.onnx", "d.lm.onnx", "embedder-x.onnx", "new.lm.onnx"]


def test_a_graph_that_cannot_be_exported_or_cached_is_named_unsupported(
        exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.generator import onnx_lm

    def unwritable(*_: Any) -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(onnx_lm, "_export", unwritable)
    with pytest.raises(UnsupportedModel, match="read-only"):
        onnx_lm.OnnxGenerator(str(exported[2]), cache_dir=tmp_path)


def test_the_pipeline_falls_back_to_pytorch_for_an_unsupported_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import rag.generator
    from rag import Pipeline
    from rag.fakes import ExtractiveGenerator
    from rag.generator import onnx_lm

    def unsupported(*_: Any, **__: Any) -> None:
        raise UnsupportedModel("the ONNX generator takes plain Llama models; this one is 'gpt2'")

    fallback = ExtractiveGenerator()
    monkeypatch.setattr(onnx_lm, "OnnxGenerator", unsupported)
    monkeypatch.setattr(rag.generator, "TransformersGenerator", lambda *_, **__: fallback)
    with caplog.at_level("WARNING"):
        assert Pipeline(index=tmp_path / "index").generator() is fallback
    assert "PyTorch instead of ONNX Runtime" in caplog.text and "gpt2" in caplog.text


class Counted:
    """A session that counts its forward passes."""

    def __init__(self, session: Any) -> None:
        self.session, self.runs = session, 0

    def run(self, *args: Any) -> Any:
        self.runs += 1
        return self.session.run(*args)


def test_answers_running_at_once_use_the_lane_session_and_decode_as_alone(exported) -> None:
    import threading

    from rag.generator.onnx_runner import Lanes, OnnxRunner

    model, runner, folder = exported
    opened: list[Counted] = []

    def lane_session() -> Counted:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        opened.append(Counted(ort.InferenceSession(str(folder / "model.lm.onnx"), options,
                                                   providers=["CPUExecutionProvider"])))
        return opened[-1]

    lanes = Lanes(2)
    laned = OnnxRunner(Counted(runner.session), llama_settings_of(model.config.to_dict()), lanes, lane_session)
    prompts = [list(range(10, 40)), [3, 1, 4, 1, 5, 9, 2, 6]]
    alone = [decode(runner, ids) for ids in prompts]
    with lanes.answering():
        assert decode(laned, prompts[0]).tokens == alone[0].tokens
    assert opened == [] and laned.session.runs > 0  # one answer: the main session only
    both_in, results = threading.Barrier(2), {}

    def answer(i: int) -> None:
        with lanes.answering():
            both_in.wait()
            results[i] = decode(laned, prompts[i])

    threads = [threading.Thread(target=answer, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i].tokens for i in (0, 1)] == [a.tokens for a in alone]
    assert [results[i].answer_logprob for i in (0, 1)] == pytest.approx([a.answer_logprob for a in alone], abs=1e-4)
    assert len(opened) == 1 and opened[0].runs >= 2  # opened once, used by both
    assert lanes.running == 0
    with pytest.raises(ValueError, match="lanes must be >= 1"):
        Lanes(0)


def test_a_lane_session_that_cannot_open_falls_back_to_the_main_one(exported, caplog) -> None:
    from rag.generator.onnx_runner import Lanes, OnnxRunner

    model, runner, _ = exported

    def evicted() -> Any:
        raise FileNotFoundError("model.lm.onnx")

    laned = OnnxRunner(runner.session, llama_settings_of(model.config.to_dict()), Lanes(2), evicted)
    assert laned.lane_session() is runner.session
    assert "lane session failed" in caplog.text

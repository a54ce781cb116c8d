"""QLoRA (`rag finetune --qlora`): bitsandbytes missing is a clear error; its hub kernel fetch is
never attempted and no socket is opened during a run; a tiny `rag finetune --qlora` trains on the
4-bit base, lowers the loss and writes an adapter (its card saying QLoRA) that `rag ask` serves on
the full-precision base; each batch follows the model to its device."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rag.cli import main

# bitsandbytes' CPU backend fetches a kernel from a model hub when the CPU reports avx512_bf16.
# The child process makes every CPU report it and gives `kernels.get_kernel` a tripwire.
TRIPWIRE = """
import importlib.abc, importlib.util, sys, types
kernels = types.ModuleType("kernels")
def get_kernel(*args, **kwargs):
    print("FETCHED", flush=True)
    raise RuntimeError("offline")
kernels.get_kernel = get_kernel
sys.modules["kernels"] = kernels

class Bf16Everywhere(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "bitsandbytes.functional":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            module.has_avx512bf16 = lambda: True
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Bf16Everywhere())
"""


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", TRIPWIRE + code], capture_output=True, text=True, timeout=300)


def test_the_hub_kernel_is_never_fetched_and_its_warning_stays_quiet() -> None:
    pytest.importorskip("bitsandbytes")
    plain = run_child("import bitsandbytes")
    assert "FETCHED" in plain.stdout  # the tripwire works: bitsandbytes on its own reaches for the hub
    guarded = run_child("from rag.finetune.qlora import import_bitsandbytes; import_bitsandbytes(); "
                        "import sys; print('ok', sys.modules['kernels'].__name__)")
    assert guarded.returncode == 0, guarded.stderr
    assert "FETCHED" not in guarded.stdout and "ok kernels" in guarded.stdout  # the caller's module is back
    assert "kernels-community" not in guarded.stderr


def test_without_bitsandbytes_qlora_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # `import bitsandbytes` fails as if not installed
    code = main(["finetune", "--data", str(tmp_path / "train.json"), "--out", str(tmp_path / "adapter"), "--qlora"])
    assert code == 2
    assert "--qlora needs bitsandbytes: pip install 'localrag[qlora]'" in capsys.readouterr().err
    assert not (tmp_path / "adapter").exists()


def test_the_card_and_readme_say_the_adapter_was_trained_qlora() -> None:
    from types import SimpleNamespace

    from rag.config import RagConfig
    from rag.finetune.card import make_card, readme
    from rag.finetune.train import TrainSettings

    result = SimpleNamespace(steps=2, first_loss=3.0, final_loss=2.0, losses=[3.0, 2.0], tokens_per_s=10.0,
                             seconds=1.0)
    cards = {}
    for qlora in (False, True):
        run = SimpleNamespace(data=("train.json",), articles=(), exclude_articles=(), command="rag finetune",
                              settings=TrainSettings(qlora=qlora))
        counts = {"span": 2, "refusal_unanswerable": 0, "refusal_not_retrieved": 0}
        cards[qlora] = make_card(run, counts, result, {"free": {"threshold": None}}, [5, 7], 2.0, RagConfig())
    assert cards[True]["method"] == "qlora" and cards[True]["hyperparameters"]["qlora"] is True
    assert cards[False]["method"] == "lora"
    assert "QLoRA" in readme(cards[True]).splitlines()[0] and "QLoRA" not in readme(cards[False])


@pytest.mark.integration
def test_a_tiny_qlora_finetune_trains_on_a_4bit_base_and_rag_ask_serves_it_on_the_full_one(
        tmp_path: Path, demo_index: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("bitsandbytes")
    import json
    import socket

    import torch
    from peft import PeftModel
    from test_finetune_integration import FIXTURES

    import rag.finetune.run as run_module
    from rag.config import RagConfig, apply_options
    from rag.finetune import FinetuneRun, TrainSettings, finetune
    from rag.finetune.examples import read_examples
    from rag.finetune.qlora import four_bit_layers, import_bitsandbytes
    from rag.finetune.train import answer_loss, collate, tokenize
    from rag.generator import TransformersGenerator

    seen: dict = {}

    class Watched(run_module.Trainer):  # what `rag finetune --qlora` trains, looked at around its loop
        def train(self, progress: bool = True):
            bnb = import_bitsandbytes()
            seen["layers"] = four_bit_layers(self.model)
            seen["trained"] = [(type(p), p.dtype) for p in self.model.parameters() if p.requires_grad]
            seen["bnb_param"] = bnb.nn.Params4bit
            batch = collate(self.rows, self.pad_id)
            with torch.no_grad():
                seen["before"] = float(answer_loss(self.model, batch)[0])
            result = super().train(progress)
            with torch.no_grad():
                seen["after"] = float(answer_loss(self.model.eval(), batch)[0])
            return result

    reached = []  # no network during the run: a connection attempt is recorded and refused
    def refuse(self, address, *args):  # noqa: E306
        reached.append(address)
        raise OSError(f"network access during a QLoRA run: {address}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(run_module, "Trainer", Watched)
    out = tmp_path / "adapter"
    settings = TrainSettings(r=4, alpha=8, dropout=0.0, lr=3e-3, epochs=1, batch_size=2, grad_accum=1,
                             warmup_ratio=0.0, qlora=True)
    card = finetune(FinetuneRun(data=(str(FIXTURES / "tiny_squad.json"),), out=str(out),
                                exclude_articles=("Normans",), limit=4, calibration=2, settings=settings,
                                config=apply_options(RagConfig(), {"retrieval.k": 1,
                                                                   "generator.max_new_tokens": 16}),
                                command="test --qlora", progress=False))
    assert not reached, reached
    monkeypatch.undo()
    generator = TransformersGenerator()
    quantized, plain = seen["layers"]
    assert quantized == 7 * generator.model.config.num_hidden_layers  # every projection of every block
    assert plain > 0  # the LoRA A and B matrices (and the output head) are ordinary layers
    assert seen["trained"] and all(t is not seen["bnb_param"] and d == torch.float32 for t, d in seen["trained"])
    assert seen["after"] < seen["before"] * 0.9, seen
    assert card["method"] == "qlora" and card["steps"] == 2
    assert set(card["refusal_thresholds"]) == {"free", "extractive"}  # calibrated, on the full base
    # What it learned holds on the full-precision base, where it serves.
    rows = [tokenize(e, generator.tokenizer) for e in read_examples(out / ".work" / "examples.jsonl")]
    batch = collate(rows, generator.tokenizer.eos_token_id)
    with torch.no_grad():
        full_before = float(answer_loss(generator.model, batch)[0])
        full_after = float(answer_loss(PeftModel.from_pretrained(generator.model, str(out)).eval(), batch)[0])
    assert full_after < full_before * 0.9, (full_before, full_after)
    # `rag ask --engine generator --adapter` serves it (on torch, unmerged: no export or merged copy of a
    # throwaway adapter).
    config = tmp_path / "rag.toml"
    config.write_text('[generator]\nbackend = "torch"\nmerge_adapter = false\n', encoding="utf-8")
    code = main(["ask", "Who invented packet switching?", "--index", str(demo_index), "--engine", "generator",
                 "--adapter", str(out), "--config", str(config), "--max-new-tokens", "8", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["answer"]  # an answer or the refusal sentence: it ran


def test_each_batch_goes_to_the_models_device_as_a_qlora_base_on_cuda_needs() -> None:
    from types import SimpleNamespace

    import torch

    from rag.finetune.train import IGNORE, answer_loss, collate

    seen = []

    class Elsewhere(torch.nn.Module):  # parameters on another device than the CPU batch ("meta": no GPU here)
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1, device="meta"))

        def forward(self, input_ids, attention_mask):
            seen.append((input_ids.device.type, attention_mask.device.type))
            return SimpleNamespace(logits=torch.zeros(*input_ids.shape, 7, device="meta"))

    batch = collate([([1, 2, 3], [IGNORE, 2, 3]), ([4, 5], [IGNORE, 5])], 0)
    loss, answer_tokens = answer_loss(Elsewhere(), batch)
    assert seen == [("meta", "meta")] and loss.device.type == "meta" and answer_tokens == 3

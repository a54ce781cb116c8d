"""QLoRA (`rag finetune --qlora`): bitsandbytes missing is a clear error; its hub kernel fetch is
never attempted; a tiny run on the 4-bit base lowers the loss and writes an adapter the
generator loads on its full-precision base."""

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


@pytest.mark.integration
def test_a_tiny_qlora_run_trains_on_a_4bit_base_and_serves_on_the_full_one(tmp_path: Path) -> None:
    pytest.importorskip("bitsandbytes")
    import torch
    from test_finetune_integration import EXAMPLES, SETTINGS

    from rag import Pipeline
    from rag.finetune.qlora import four_bit_layers, import_bitsandbytes, quantized_base
    from rag.finetune.train import Trainer, answer_loss, collate, lora_model, tokenize
    from rag.generator import TransformersGenerator

    generator = TransformersGenerator()
    settings = SETTINGS.__class__(**{**SETTINGS.__dict__, "qlora": True, "epochs": 1})
    rows = [tokenize(e, generator.tokenizer) for e in EXAMPLES]
    batch = collate(rows, generator.tokenizer.eos_token_id)
    with torch.no_grad():
        full_before = float(answer_loss(generator.model, batch)[0])
    model = lora_model(quantized_base(generator.model_folder), settings)
    quantized, plain = four_bit_layers(model)
    assert quantized == 7 * generator.model.config.num_hidden_layers  # every projection of every block
    assert plain > 0  # the LoRA A and B matrices (and the output head) are ordinary layers
    bnb = import_bitsandbytes()
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and all(not isinstance(p, bnb.nn.Params4bit) and p.dtype == torch.float32 for p in trained)
    trainer = Trainer(model, rows, settings, tmp_path / "work", generator.tokenizer.eos_token_id)
    with torch.no_grad():
        before = float(answer_loss(model, batch)[0])
    trainer.train(progress=False)
    with torch.no_grad():
        model.eval()
        after = float(answer_loss(model, batch)[0])
    assert after < before * 0.9, (before, after)
    model.save_pretrained(str(tmp_path / "adapter"))
    from peft import PeftModel

    served = PeftModel.from_pretrained(generator.model, str(tmp_path / "adapter")).eval()
    with torch.no_grad():
        full_after = float(answer_loss(served, batch)[0])
    assert full_after < full_before * 0.9, (full_before, full_after)  # what it learned holds on the full base
    from rag.config import load_config

    torch_engine = load_config(overrides={"generator.backend": "torch"})  # no ONNX export of a throwaway adapter
    loaded = Pipeline(index=tmp_path / "none", adapter=str(tmp_path / "adapter"), config=torch_engine).generator()
    assert loaded.adapter == str(tmp_path / "adapter")

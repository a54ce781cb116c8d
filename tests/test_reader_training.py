"""The reader's training loop on a tiny 2-layer BERT: bf16 only where the CPU reports it (the
detection faked both ways), both precisions lower the loss, and a run killed with SIGKILL
between checkpoints resumes at the last checkpoint's step with the same next batch and loss."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from training_helpers import tiny_encoder, tiny_features, tiny_model, tiny_settings

from rag.errors import ConfigError, InputError
from rag.train_reader.hardware import cpu_flags, place
from rag.train_reader.train import batch_order, train

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


def test_bf16_is_chosen_only_where_the_cpu_reports_it(tmp_path: Path) -> None:
    assert place("auto", "cpu", flags={"avx2", "avx512_bf16"}).bf16
    assert place("auto", "cpu", flags={"avx2", "amx_bf16"}).precision == "bf16"
    assert not place("auto", "cpu", flags={"avx2", "avx512f"}).bf16
    assert place("bf16", "cpu", flags=set()).bf16  # forced either way
    assert not place("fp32", "cpu", flags={"avx512_bf16"}).bf16
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags\t\t: fpu sse2 avx512_bf16 avx2\n")
    assert cpu_flags(info) == {"fpu", "sse2", "avx512_bf16", "avx2"}
    assert cpu_flags(tmp_path / "absent") == set()
    with pytest.raises(ConfigError, match="precision 'fp8'"):
        place("fp8")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            place("auto", "cuda")


@pytest.mark.parametrize("flags, precision", [({"avx512_bf16"}, "bf16"), (set(), "fp32")])
def test_a_tiny_run_lowers_the_loss_in_either_precision(encoder: Path, tmp_path: Path, flags: set[str],
                                                      precision: str) -> None:
    features, pad_id = tiny_features(encoder)
    result = train(tiny_model(encoder), features, pad_id, tiny_settings(precision="auto", max_steps=40),
                   tmp_path, progress=False, flags=flags)
    assert result.precision == precision and result.steps == 40
    assert result.final_loss < 0.8 * result.first_loss


def test_a_run_killed_between_checkpoints_resumes_at_the_last_one_with_the_same_next_batch(
        encoder: Path, tmp_path: Path) -> None:
    features, pad_id = tiny_features(encoder)
    work = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, str(HERE / "training_helpers.py"), str(encoder), str(work)], env=env)
    deadline = time.monotonic() + 120
    while not (work / "checkpoint.pt").is_file() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    time.sleep(0.4)  # past the checkpoint, into the steps after it
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    saved = torch.load(work / "checkpoint.pt", weights_only=False)["state"]["step"]
    assert saved % 3 == 0 and saved >= 3

    settings = tiny_settings(save_every=3)
    resumed = train(tiny_model(encoder), features, pad_id, settings, work, resume=True, progress=False,
                    stop_after=saved + 1)
    whole = train(tiny_model(encoder), features, pad_id, settings, tmp_path / "whole", progress=False,
                  stop_after=saved + 1)
    assert resumed.steps == saved + 1
    # The step after the checkpoint reads the same batch from the same weights: the same loss.
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-5)
    assert resumed.windows == whole.windows  # the card counts only steps that ran, once


def test_a_checkpoint_over_other_data_is_refused(encoder: Path, tmp_path: Path) -> None:
    features, pad_id = tiny_features(encoder)
    train(tiny_model(encoder), features, pad_id, tiny_settings(), tmp_path, progress=False, stop_after=2)
    fewer = features[:-4]
    assert batch_order(fewer, tiny_settings())[1] != batch_order(features, tiny_settings())[1]
    shorter = batch_order(features, tiny_settings(max_steps=5))
    assert shorter[1] == batch_order(features, tiny_settings())[1]  # a resume may change the length
    assert shorter[0] == batch_order(features, tiny_settings())[0][:5]
    with pytest.raises(InputError, match="other data or settings"):
        train(tiny_model(encoder), fewer, pad_id, tiny_settings(), tmp_path, resume=True, progress=False)

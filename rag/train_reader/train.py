"""The reader's training loop: cross-entropy on the start and end tokens of every window (the
[CLS] position for a window without the answer), length-bucketed batches, gradient
accumulation, linear warm-up then linear decay, a fixed seed, a progress bar with loss,
examples/s and ETA, and checkpoints (weights, optimizer, scheduler, RNG, step) that a later
process resumes exactly: the same batches in the same order from the next step.

Only this package and the PyTorch fallback of the reader import torch and transformers.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.train_reader.features import Feature, collate, length_batches

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class ReaderTrainSettings:
    """Hyperparameters of one run; validated on creation (ValueError names the field)."""

    lr: float = 1e-4
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 16  # windows per forward pass (one length bucket)
    grad_accum: int = 2  # forward passes per optimizer step
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 256  # tokens per window, as at inference
    stride: int = 96  # tokens two windows of one long passage share
    seed: int = 0
    save_every: int = 50  # optimizer steps between checkpoints
    threads: int | None = None

    def __post_init__(self) -> None:
        checks = [(0.0 < self.lr < 1.0, "lr", "a learning rate in (0, 1)"),
                  (self.epochs > 0, "epochs", "a number > 0"),
                  (self.max_steps is None or self.max_steps >= 1, "max_steps", "an integer >= 1"),
                  (self.batch_size >= 1, "batch_size", "an integer >= 1"),
                  (self.grad_accum >= 1, "grad_accum", "an integer >= 1"),
                  (0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", "a share in [0, 1)"),
                  (self.weight_decay >= 0, "weight_decay", "a number >= 0"),
                  (self.save_every >= 1, "save_every", "an integer >= 1")]
        for ok, name, expected in checks:
            if not ok:
                raise ValueError(f"{name} = {getattr(self, name)!r} is invalid: expected {expected}")

    def total_steps(self, n_batches: int) -> int:
        planned = math.ceil(n_batches * self.epochs / self.grad_accum)
        return min(planned, self.max_steps) if self.max_steps else planned


@dataclass
class ReaderTrainResult:
    steps: int
    total_steps: int
    first_loss: float | None
    final_loss: float | None
    windows_per_s: float
    seconds: float
    losses: list[float] = field(default_factory=list)


def new_model(encoder_folder: Path) -> Any:
    """The encoder's weights under a fresh span head (BertForQuestionAnswering: 2 logits a token)."""
    from transformers import BertForQuestionAnswering
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialized qa_outputs" is the point here
    model = BertForQuestionAnswering.from_pretrained(str(encoder_folder))
    # The word embeddings (half the weights) stay as pretrained: 9 % faster steps here, and
    # words the training questions never show keep their meaning.
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


def train(model: Any, features: Sequence[Feature], pad_id: int, settings: ReaderTrainSettings, work: Path,
          resume: bool = False, progress: bool = True, stop_after: int | None = None) -> ReaderTrainResult:
    """Train `model` in place on `features`; checkpoints in `work` (resumed with `resume`).

    Args:
        stop_after: end at this step with a checkpoint, as a run cut short would (the schedule
            still plans the full run; `resume` continues it).

    Returns:
        ReaderTrainResult; `losses` holds the mean loss of every optimizer step so far (resumed
        runs keep the earlier steps' losses).
    """
    import torch

    _seed(settings.seed)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    batches = length_batches(features, settings.batch_size, settings.seed)
    total = settings.total_steps(len(batches))
    passes = [batches[i % len(batches)] for i in range(total * settings.grad_accum)]
    optimizer, scheduler = _optimizer(model, settings, total)
    state: dict[str, Any] = {"step": 0, "losses": [], "seconds": 0.0}
    path = work / CHECKPOINT
    if resume and path.is_file():
        state = _load_checkpoint(path, model, optimizer, scheduler)
        log.warning("resuming reader training at step %d of %d", state["step"], total)
    model.train()
    started, windows_done = time.perf_counter(), 0
    bar = tqdm(total=total, initial=state["step"], desc="train-reader", unit="step", disable=not progress)
    last = min(total, stop_after) if stop_after is not None else total
    while state["step"] < last:
        step = state["step"]
        loss_sum = 0.0
        for micro in passes[step * settings.grad_accum:(step + 1) * settings.grad_accum]:
            batch = {k: torch.from_numpy(v) for k, v in collate([features[i] for i in micro], pad_id).items()}
            loss = model(**batch).loss / settings.grad_accum
            loss.backward()
            loss_sum += float(loss.detach())
            windows_done += len(micro)
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] = step + 1
        state["losses"].append(loss_sum)
        rate = windows_done / max(1e-9, time.perf_counter() - started)
        bar.set_postfix(loss=f"{sum(state['losses'][-20:]) / len(state['losses'][-20:]):.3f}",
                        win_s=f"{rate:.1f}")
        bar.update(1)
        if state["step"] % settings.save_every == 0 or state["step"] in (total, last):
            state["seconds"] = float(state.get("seconds", 0.0)) + time.perf_counter() - started
            started, windows_done = time.perf_counter(), 0
            _save_checkpoint(path, model, optimizer, scheduler, state)
    bar.close()
    losses = list(state["losses"])
    seconds = float(state.get("seconds", 0.0))
    done_windows = sum(len(p) for p in passes[:state["step"] * settings.grad_accum])
    return ReaderTrainResult(state["step"], total, _mean(losses[:10]), _mean(losses[-10:]),
                             done_windows / max(seconds, 1e-9), seconds, losses)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's generators from one seed (the span head's initial
    weights, dropout, the data order)."""
    _seed(seed)


def _seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _optimizer(model: Any, settings: ReaderTrainSettings, total: int) -> tuple[Any, Any]:
    import torch

    trained = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trained if p.ndim >= 2]
    no_decay = [p for p in trained if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr)
    warmup = max(1, int(total * settings.warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _save_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]) -> None:
    """Weights, optimizer, scheduler, every RNG and the step, written atomically."""
    import numpy as np
    import torch

    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "state": state,
               "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                       "torch": torch.get_rng_state()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    torch.save(payload, staging)
    os.replace(staging, path)


def _load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    import numpy as np
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    random.setstate(payload["rng"]["python"])
    np.random.set_state(payload["rng"]["numpy"])
    torch.set_rng_state(payload["rng"]["torch"])
    return dict(payload["state"])

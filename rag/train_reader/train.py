"""The reader's training loop: cross-entropy on the start and end tokens of every window (the
[CLS] position for a window without the answer), length-bucketed batches, gradient
accumulation, linear warm-up then linear decay, a fixed seed, bf16 autocast where the hardware
runs it (rag.train_reader.hardware), a progress bar with loss, windows/s and ETA, and
checkpoints every few minutes that a later process resumes exactly: the same batches in the
same order from the next step (rag.train_reader.checkpoint).

Only this package and the PyTorch fallback of the reader import torch and transformers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.train_reader.checkpoint import CHECKPOINT, TrainingClock, load_checkpoint, save_checkpoint
from rag.train_reader.features import Feature, collate, length_batches
from rag.train_reader.hardware import DEVICES, PRECISIONS, Placement, place

log = logging.getLogger(__name__)
# Called at each checkpoint with the model; what it returns joins the run's learning curve.
CheckpointHook = Callable[[Any, dict[str, Any]], dict[str, Any]]


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
    max_length: int = 192  # tokens per training window (3x faster than 256 in bf16 here)
    stride: int = 64  # tokens two windows of one long passage share
    seed: int = 0
    checkpoint_minutes: float = 10.0  # training time between checkpoints
    save_every: int | None = None  # also checkpoint every this many steps
    precision: str = "auto"  # auto: bf16 where the hardware runs it natively
    device: str = "auto"  # auto: CUDA when present
    freeze_layers: int = 0  # the lowest encoder layers kept as pretrained
    threads: int | None = None

    def __post_init__(self) -> None:
        checks = [(0.0 < self.lr < 1.0, "lr", "a learning rate in (0, 1)"),
                  (self.epochs > 0, "epochs", "a number > 0"),
                  (self.max_steps is None or self.max_steps >= 1, "max_steps", "an integer >= 1"),
                  (self.batch_size >= 1, "batch_size", "an integer >= 1"),
                  (self.grad_accum >= 1, "grad_accum", "an integer >= 1"),
                  (0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", "a share in [0, 1)"),
                  (self.weight_decay >= 0, "weight_decay", "a number >= 0"),
                  (self.checkpoint_minutes > 0, "checkpoint_minutes", "a number > 0"),
                  (self.save_every is None or self.save_every >= 1, "save_every", "an integer >= 1"),
                  (self.precision in PRECISIONS, "precision", f"one of {', '.join(PRECISIONS)}"),
                  (self.device in DEVICES, "device", f"one of {', '.join(DEVICES)}"),
                  (self.freeze_layers >= 0, "freeze_layers", "an integer >= 0")]
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
    windows: int = 0
    precision: str = "fp32"
    device: str = "cpu"
    curve: list[dict[str, Any]] = field(default_factory=list)


def new_model(encoder_folder: Path, freeze_layers: int = 0) -> Any:
    """The encoder's weights under a fresh span head (BertForQuestionAnswering: 2 logits a token).

    Raises:
        ValueError: `freeze_layers` is more than the encoder has.
    """
    from transformers import BertForQuestionAnswering
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialized qa_outputs" is the point here
    model = BertForQuestionAnswering.from_pretrained(str(encoder_folder))
    # The word embeddings (half the weights) stay as pretrained: 9 % faster steps here, and
    # words the training questions never show keep their meaning.
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    layers = model.bert.encoder.layer
    if freeze_layers > len(layers):
        raise ValueError(f"freeze_layers = {freeze_layers} is invalid: the encoder has {len(layers)} layers")
    for layer in layers[:freeze_layers]:
        layer.requires_grad_(False)
    return model


def batch_order(features: Sequence[Feature], settings: ReaderTrainSettings) -> tuple[list[list[int]], str]:
    """Every forward pass of the run, in order, and a digest of that order and its windows (a
    checkpoint is only resumed over the same). The digest leaves the run's length out, so a
    resume may lengthen or shorten the plan (`max_steps`, `epochs`): the batches stay in order."""
    batches = length_batches(features, settings.batch_size, settings.seed)
    total = settings.total_steps(len(batches))
    passes = [batches[i % len(batches)] for i in range(total * settings.grad_accum)]
    digest = hashlib.sha256(repr((len(features), batches[:64], [features[i].input_ids for i in batches[0]],
                                  settings.grad_accum)).encode()).hexdigest()[:16]
    return passes, digest


def train(model: Any, features: Sequence[Feature], pad_id: int, settings: ReaderTrainSettings, work: Path,
          resume: bool = False, progress: bool = True, stop_after: int | None = None,
          on_checkpoint: CheckpointHook | None = None, flags: set[str] | None = None) -> ReaderTrainResult:
    """Train `model` in place on `features`; checkpoints in `work` (resumed with `resume`).

    Args:
        stop_after: end at this step with a checkpoint, as a run cut short would (the schedule
            still plans the full run; `resume` continues it).
        on_checkpoint: measures the model at each checkpoint (the learning curve).
        flags: the CPU's flags (default: read from /proc/cpuinfo), for the bf16 decision.

    Returns:
        ReaderTrainResult; `losses` holds the mean loss of every optimizer step so far (resumed
        runs keep the earlier steps' losses); seconds and windows count only steps that ran.
    """
    import torch

    placement = place(settings.precision, settings.device, flags)
    seed_everything(settings.seed)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    model.to(placement.device)
    passes, order = batch_order(features, settings)
    total = len(passes) // settings.grad_accum
    optimizer, scheduler = _optimizer(model, settings, total)
    state: dict[str, Any] = {"step": 0, "losses": [], "seconds": 0.0, "windows": 0, "curve": [], "order": order}
    path = work / CHECKPOINT
    if resume and path.is_file():
        state = {**state, **load_checkpoint(path, model, optimizer, scheduler, order)}
        log.warning("resuming reader training at step %d of %d", state["step"], total)
    last = min(total, stop_after) if stop_after is not None else total
    bar = tqdm(total=total, initial=state["step"], desc="train-reader", unit="step", disable=not progress)
    clock = TrainingClock(settings, state["windows"])
    model.train()
    while state["step"] < last:
        micros = passes[state["step"] * settings.grad_accum:(state["step"] + 1) * settings.grad_accum]
        loss = _step(model, [[features[i] for i in m] for m in micros], pad_id, settings, placement,
                     optimizer, scheduler)
        state["step"] += 1
        state["losses"].append(loss)
        state["windows"] += sum(len(m) for m in micros)
        bar.set_postfix(loss=f"{sum(state['losses'][-20:]) / len(state['losses'][-20:]):.3f}",
                        win_s=f"{clock.rate(state['windows']):.1f}")
        bar.update(1)
        if clock.due(state["step"]) or state["step"] in (total, last):
            state["seconds"] = clock.bank(state)
            if on_checkpoint is not None:
                model.eval()
                state["curve"].append({"step": state["step"], "hours": round(state["seconds"] / 3600, 3),
                                       "windows": state["windows"], **on_checkpoint(model, state)})
                model.train()
            save_checkpoint(path, model, optimizer, scheduler, state)
            clock.restart(state["windows"])
    bar.close()
    model.to("cpu")
    losses, seconds = list(state["losses"]), float(state["seconds"])
    return ReaderTrainResult(state["step"], total, _mean(losses[:10]), _mean(losses[-10:]),
                             state["windows"] / max(seconds, 1e-9), seconds, losses, state["windows"],
                             placement.precision, placement.device, list(state["curve"]))


def _step(model: Any, micros: Sequence[Sequence[Feature]], pad_id: int, settings: ReaderTrainSettings,
          placement: Placement, optimizer: Any, scheduler: Any) -> float:
    """One optimizer step over `grad_accum` forward passes; the step's mean loss."""
    import torch

    loss_sum = 0.0
    for micro in micros:
        arrays = collate(micro, pad_id)
        batch = {k: torch.from_numpy(v).to(placement.device) for k, v in arrays.items()}
        with torch.autocast(placement.device, dtype=torch.bfloat16, enabled=placement.bf16):
            loss = model(**batch).loss / settings.grad_accum
        loss.backward()
        loss_sum += float(loss.detach())
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's generators from one seed (the span head's initial
    weights, dropout, the data order)."""
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

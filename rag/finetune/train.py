"""The LoRA training loop: loss on the answer tokens only, length-bucketed micro-batches,
gradient accumulation, a linear-warmup / linear-decay schedule, checkpoints that resume exactly
(same step, same data order), a progress bar with running loss, tokens/s and ETA.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.finetune.examples import Example
from rag.generator.transformers_lm import answer_token_ids

log = logging.getLogger(__name__)
IGNORE = -100  # label of the prompt and padding tokens: no loss there
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one run; validated on creation."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    lr: float = 5e-4
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 2  # examples per forward pass (one length bucket)
    grad_accum: int = 4  # forward passes per optimizer step
    warmup_ratio: float = 0.06
    seed: int = 0
    save_every: int = 10  # optimizer steps between checkpoints
    threads: int | None = None
    qlora: bool = False  # the base frozen in 4-bit NF4 while training (rag.finetune.qlora)

    def __post_init__(self) -> None:
        checks = [(self.r >= 1, "r", "an integer >= 1"), (self.alpha >= 1, "alpha", "an integer >= 1"),
                  (0.0 <= self.dropout < 1.0, "dropout", "a number in [0, 1)"),
                  (0.0 < self.lr < 1.0, "lr", "a learning rate in (0, 1)"),
                  (self.epochs > 0, "epochs", "a number > 0"),
                  (self.max_steps is None or self.max_steps >= 1, "max_steps", "an integer >= 1"),
                  (self.batch_size >= 1, "batch_size", "an integer >= 1"),
                  (self.grad_accum >= 1, "grad_accum", "an integer >= 1"),
                  (self.save_every >= 1, "save_every", "an integer >= 1"),
                  (bool(self.target_modules), "target_modules", "at least one module name")]
        for ok, name, expected in checks:
            if not ok:
                raise ValueError(f"{name} = {getattr(self, name)!r} is invalid: expected {expected}")


@dataclass
class TrainResult:
    steps: int
    final_loss: float | None
    first_loss: float | None
    tokens_per_s: float
    seconds: float
    losses: list[float] = field(default_factory=list)


def tokenize(example: Example, tokenizer: Any) -> tuple[list[int], list[int]]:
    """(input ids, labels): the chat prompt as `ask` renders it, then the target and the end
    token; labels hide the prompt so the loss is on the answer only."""
    prompt = list(tokenizer.apply_chat_template(list(example.messages), add_generation_prompt=True,
                                                tokenize=True, return_dict=True)["input_ids"])
    target = answer_token_ids(tokenizer, example.target) + [tokenizer.eos_token_id]
    return prompt + target, [IGNORE] * len(prompt) + target


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Micro-batches of similar length (little padding) in a seeded random order per epoch."""
    rng = random.Random(seed * 1000 + epoch)
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def schedule(settings: TrainSettings, lengths: Sequence[int]) -> tuple[list[list[int]], int]:
    """Every micro-batch in training order (epochs concatenated), and the optimizer steps."""
    per_epoch = math.ceil(len(lengths) / settings.batch_size)
    steps = math.ceil(math.ceil(per_epoch * settings.epochs) / settings.grad_accum)
    if settings.max_steps is not None:
        steps = min(steps, settings.max_steps)
    order: list[list[int]] = []
    epoch = 0
    while len(order) < steps * settings.grad_accum:
        order += bucketed_batches(lengths, settings.batch_size, settings.seed, epoch)
        epoch += 1
    return order[:steps * settings.grad_accum], steps


def collate(rows: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = [r[0] + [pad_id] * (width - len(r[0])) for r in rows]
    mask = [[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows]
    labels = [r[1] + [IGNORE] * (width - len(r[1])) for r in rows]
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask),
            "labels": torch.tensor(labels)}


def answer_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """Mean cross-entropy over the answer tokens of a batch (moved to the model's device: a QLoRA
    base on CUDA), and how many there were."""
    import torch

    device = next(model.parameters()).device
    ids, mask, labels = (batch[k].to(device) for k in ("input_ids", "attention_mask", "labels"))
    logits = model(input_ids=ids, attention_mask=mask).logits
    shifted, targets = logits[:, :-1, :].float(), labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(shifted.reshape(-1, shifted.shape[-1]), targets.reshape(-1),
                                             ignore_index=IGNORE)
    return loss, int((batch["labels"][:, 1:] != IGNORE).sum())


def lora_model(base: Any, settings: TrainSettings) -> Any:
    """The base model wrapped with fresh LoRA weights (seeded)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(settings.seed)
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=list(settings.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(base, config)


class Trainer:
    """Trains LoRA weights on tokenized examples; checkpoints under `work/checkpoints`.

    Args:
        model: a peft model (see `lora_model`).
        rows: (input ids, labels) per example.
        settings: TrainSettings.
        work: folder for checkpoints.
        pad_id: the tokenizer's padding id.
        optimizer: the optimizer class (default torch's AdamW; QLoRA on CUDA: a paged 8-bit one).
    """

    def __init__(self, model: Any, rows: Sequence[tuple[list[int], list[int]]], settings: TrainSettings,
                 work: Path, pad_id: int, optimizer: Any = None) -> None:
        import torch

        self.model, self.rows, self.settings, self.pad_id = model, list(rows), settings, pad_id
        self.checkpoints = work / "checkpoints"
        self.order, self.steps = schedule(settings, [len(r[0]) for r in self.rows])
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = (optimizer or torch.optim.AdamW)(params, lr=settings.lr, weight_decay=0.0)
        warmup = max(1, round(self.steps * settings.warmup_ratio))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min((s + 1) / warmup, max(0.0, (self.steps - s) / max(1, self.steps - warmup))))
        self.step = 0
        self.losses: list[float] = []
        self.tokens_seen = 0
        self.seconds = 0.0

    # -- checkpoints -------------------------------------------------------------------
    def save(self) -> Path:
        """Write the adapter, optimizer, scheduler and counters; keep only the newest two."""
        import torch

        folder = self.checkpoints / f"step-{self.step:06d}"
        staging = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        self.model.save_pretrained(str(staging))
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state()}, staging / "trainer.pt")
        state = {"step": self.step, "losses": self.losses, "tokens_seen": self.tokens_seen,
                 "seconds": self.seconds, "steps": self.steps, "settings": asdict(self.settings)}
        (staging / "state.json").write_text(json.dumps(state), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)  # a checkpoint exists whole or not at all
        for old in sorted(self.checkpoints.glob("step-??????"))[:-2]:
            shutil.rmtree(old, ignore_errors=True)
        return folder

    def latest_checkpoint(self) -> Path | None:
        found = sorted(self.checkpoints.glob("step-??????")) if self.checkpoints.is_dir() else []
        return found[-1] if found else None

    def resume(self) -> int:
        """Load the newest checkpoint; returns the step it continues from (0: none found)."""
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        folder = self.latest_checkpoint()
        if folder is None:
            return 0
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        if state["settings"] != json.loads(json.dumps(asdict(self.settings))):
            raise ValueError(f"checkpoint {folder} was made with other settings: {state['settings']}")
        set_peft_model_state_dict(self.model, load_file(str(folder / "adapter_model.safetensors")))
        saved = torch.load(folder / "trainer.pt", weights_only=False)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        self.step, self.losses = int(state["step"]), list(state["losses"])
        self.tokens_seen, self.seconds = int(state["tokens_seen"]), float(state["seconds"])
        log.warning("resuming from %s (step %d of %d)", folder, self.step, self.steps)
        return self.step

    # -- the loop ----------------------------------------------------------------------
    def train(self, progress: bool = True) -> TrainResult:
        """Run the remaining optimizer steps (all of them, unless resumed)."""
        s = self.settings
        self.model.train()
        bar = tqdm(total=self.steps, initial=self.step, desc="train", unit="step", disable=not progress)
        while self.step < self.steps:
            started = time.perf_counter()
            step_loss, tokens = 0.0, 0
            for micro in self.order[self.step * s.grad_accum:(self.step + 1) * s.grad_accum]:
                batch = collate([self.rows[i] for i in micro], self.pad_id)
                loss, _ = answer_loss(self.model, batch)
                (loss / s.grad_accum).backward()
                step_loss += float(loss.detach()) / s.grad_accum
                tokens += int(batch["attention_mask"].sum())
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            self.losses.append(round(step_loss, 5))
            self.tokens_seen += tokens
            self.seconds += time.perf_counter() - started
            running = sum(self.losses[-10:]) / len(self.losses[-10:])
            rate = self.tokens_seen / self.seconds if self.seconds else 0.0
            bar.set_postfix(loss=f"{running:.3f}", tok_s=f"{rate:.0f}", refresh=False)
            bar.update(1)
            if not progress:
                eta = (self.steps - self.step) * self.seconds / max(1, self.step)
                print(f"train: step {self.step}/{self.steps} loss {running:.3f} {rate:.0f} tok/s "
                      f"eta {eta / 60:.1f} min", file=sys.stderr, flush=True)
            if self.step % s.save_every == 0 or self.step == self.steps:
                self.save()
        bar.close()
        self.model.eval()
        return TrainResult(self.step, self.losses[-1] if self.losses else None,
                           self.losses[0] if self.losses else None,
                           self.tokens_seen / self.seconds if self.seconds else 0.0, self.seconds, self.losses)

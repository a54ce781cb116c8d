"""A training run's checkpoint: weights, optimizer, scheduler, every RNG, the step and the run's
record so far, written atomically (a run killed while writing keeps the previous checkpoint)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from rag.errors import InputError

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]) -> None:
    """Write everything a resumed run needs to `path` (staged, fsynced, then renamed)."""
    import numpy as np
    import torch

    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "state": state,
               "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                       "torch": torch.get_rng_state(),
                       "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}}
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    with open(staging, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any, order: str) -> dict[str, Any]:
    """Restore a checkpoint into the run's objects and RNGs; returns the run's record.

    Raises:
        InputError: the checkpoint was made over other data or another batch order.
    """
    import numpy as np
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=False)
    state = dict(payload["state"])
    if state.get("order") not in (None, order):
        raise InputError(f"checkpoint {str(path)!r} was made over other data or settings (batch order "
                         f"{state.get('order')}, this run's {order}); start a new run with another --work")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    random.setstate(payload["rng"]["python"])
    np.random.set_state(payload["rng"]["numpy"])
    torch.set_rng_state(payload["rng"]["torch"])
    if payload["rng"].get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["rng"]["cuda"])
    return state


class TrainingClock:
    """Training time: banked at each checkpoint, so time lost to a kill is never counted."""

    def __init__(self, settings: Any, windows: int) -> None:
        self.settings = settings
        self.restart(windows)

    def rate(self, windows: int) -> float:
        """Windows a second since the last checkpoint."""
        return (windows - self.windows_at_start) / max(1e-9, time.perf_counter() - self.started)

    def due(self, step: int) -> bool:
        every = self.settings.save_every
        return (every is not None and step % every == 0) or \
            time.perf_counter() - self.started >= self.settings.checkpoint_minutes * 60

    def bank(self, state: dict[str, Any]) -> float:
        """The run's training seconds up to now."""
        return float(state.get("seconds", 0.0)) + time.perf_counter() - self.started

    def restart(self, windows: int) -> None:
        self.started, self.windows_at_start = time.perf_counter(), windows

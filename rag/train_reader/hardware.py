"""Where and in what precision the reader trains: CUDA when present, else the CPU; bf16
autocast where the hardware runs it natively (the CPU's `avx512_bf16` or `amx_bf16` flag, or a
CUDA device that reports bf16), fp32 elsewhere. Autocast keeps fp32 master weights, so the
optimizer's state and the saved weights are the same as an fp32 run's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp32")
DEVICES = ("auto", "cpu", "cuda")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Placement:
    """The device a run trains on and whether it autocasts to bf16 there."""

    device: str
    bf16: bool

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp32"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is not there)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def cpu_has_bf16(flags: set[str] | None = None) -> bool:
    """True when the CPU reports a native bf16 instruction set."""
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def place(precision: str = "auto", device: str = "auto", flags: set[str] | None = None) -> Placement:
    """The device and precision for `precision` / `device` as asked.

    Raises:
        ConfigError: an unknown name, or CUDA asked for where there is none.
    """
    import torch

    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is unknown: expected one of {', '.join(PRECISIONS)}")
    if device not in DEVICES:
        raise ConfigError(f"device {device!r} is unknown: expected one of {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise ConfigError("device 'cuda' was asked for, but PyTorch sees no CUDA device")
    chosen = "cuda" if device == "cuda" or (device == "auto" and cuda) else "cpu"
    if precision != "auto":
        return Placement(chosen, precision == "bf16")
    native = torch.cuda.is_bf16_supported() if chosen == "cuda" else cpu_has_bf16(flags)
    return Placement(chosen, bool(native))

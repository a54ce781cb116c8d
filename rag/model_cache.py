"""Where converted model files are cached (dequantized GGUF weights, exported ONNX graphs),
the content keys that name them (a copy of the same model in another virtualenv finds the same
cache entry, and a changed file never reads a stale one), and how one file is written there."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/localrag/models (~/.cache/localrag/models)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "localrag" / "models"


def content_key(source: Path, salt: str = "", sample: int = 1 << 20) -> str:
    """A 12-hex key of `source` from its size, its first and last `sample` bytes and `salt`
    (what else the converted file depends on, e.g. the converter's version)."""
    size = source.stat().st_size
    digest = hashlib.sha256(f"{size}:{salt}:".encode())
    with source.open("rb") as handle:
        digest.update(handle.read(sample))
        handle.seek(max(0, size - sample))
        digest.update(handle.read(sample))
    return digest.hexdigest()[:12]


def write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """Have `write` fill a staging file beside `target`, then rename it into place: a killed or
    failing writer (an exception propagates) leaves no half file, and readers never see one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".export-", suffix=target.suffix, dir=target.parent)
    os.close(handle)
    try:
        write(Path(staging))
        os.replace(staging, target)
    finally:
        Path(staging).unlink(missing_ok=True)

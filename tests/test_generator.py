"""Unit tests of the generator module that need no model weights."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from rag.generator import gguf_cache_key


def _fake_gguf(path: Path, size: int = 3 << 20) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(i % 251 for i in range(size)))
    return path


def test_cache_key_follows_content_not_path_or_mtime(tmp_path: Path) -> None:
    first = _fake_gguf(tmp_path / "venv-a" / "model.gguf")
    second = tmp_path / "venv-b" / "model.gguf"
    second.parent.mkdir()
    shutil.copyfile(first, second)
    os.utime(second, (1_000_000, 1_000_000))
    assert gguf_cache_key(first) == gguf_cache_key(second)


def test_cache_key_changes_when_the_tail_changes(tmp_path: Path) -> None:
    path = _fake_gguf(tmp_path / "model.gguf")
    before = gguf_cache_key(path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert gguf_cache_key(path) != before


def test_cache_key_changes_with_size(tmp_path: Path) -> None:
    path = _fake_gguf(tmp_path / "model.gguf")
    before = gguf_cache_key(path)
    with path.open("ab") as handle:
        handle.write(b"\0")
    assert gguf_cache_key(path) != before

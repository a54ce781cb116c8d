"""Unit tests of the generator module that need no model weights."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from rag.generator import ends_in_loop, gguf_cache_key


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


def test_a_block_repeated_three_times_over_twelve_tokens_is_a_loop() -> None:
    answer = [5, 6, 7, 8]
    assert ends_in_loop(answer + [1, 2, 3, 4] * 3)  # period 4, 12 tokens
    assert ends_in_loop([9] + [1, 2] * 6)  # "1.1.1." : period 2, six times
    assert ends_in_loop([3] * 12)


def test_ordinary_text_and_short_repeats_are_not_loops() -> None:
    assert not ends_in_loop(list(range(40)))
    assert not ends_in_loop([1, 2, 3, 4] * 2)  # twice is allowed
    assert not ends_in_loop([3] * 11)  # "..." runs shorter than min_span
    assert not ends_in_loop([1, 2, 3, 1, 2, 4, 1, 2, 3])  # near repeats
    assert not ends_in_loop([1, 2] * 6 + [7])  # the loop must be at the end
    assert not ends_in_loop([])

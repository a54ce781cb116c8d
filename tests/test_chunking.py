"""Chunking: token limits, overlap, stable ids, Markdown sections."""

from __future__ import annotations

import pytest

from rag.errors import ConfigError
from rag.ingest.chunking import Chunker, chunk_id, markdown_sections
from rag.types import Page


def words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def word_count(text: str) -> int:  # the fake tokenizer: words + 2 specials
    return len(text.split()) + 2


def test_every_chunk_fits_the_size_and_text_is_covered() -> None:
    text = "\n\n".join(f"{words(60, f'p{i}x')}. Another sentence here." for i in range(10))
    chunker = Chunker(word_count, max_tokens=64, chunk_size_tokens=50, chunk_overlap_tokens=10)
    chunks = chunker.split_page(Page("a.txt", None, text))
    assert len(chunks) > 10
    assert all(word_count(c.text) <= 50 for c in chunks)
    seen = set(" ".join(c.text for c in chunks).split())
    assert set(text.split()) <= seen


def test_one_unbroken_run_longer_than_the_limit_is_still_split() -> None:
    chunker = Chunker(lambda t: len(t) // 4 + 2, max_tokens=40, chunk_size_tokens=40, chunk_overlap_tokens=5)
    chunks = chunker.split_text("x" * 2000)
    assert all(len(c) // 4 + 2 <= 40 for c in chunks)
    assert sum(len(c) for c in chunks) >= 2000


def test_overlap_repeats_text_between_neighbours() -> None:
    text = " ".join(f"Sentence number {i} ends here." for i in range(40))
    chunks = Chunker(word_count, 256, chunk_size_tokens=40, chunk_overlap_tokens=12).split_text(text)
    assert len(chunks) > 2
    assert any(s in chunks[1] for s in chunks[0].split(". ")[-2:])


def test_invalid_settings_are_refused_with_the_numbers() -> None:
    with pytest.raises(ConfigError, match=r"chunk_overlap_tokens \(50\) must be less than .*\(50\)"):
        Chunker(word_count, 256, 50, 50)
    with pytest.raises(ConfigError, match=r"chunk_size_tokens \(300\) must be at most .*256"):
        Chunker(word_count, 256, 300, 30)


def test_ids_are_stable_and_positional() -> None:
    chunker = Chunker(word_count, 64, 30, 5)
    page = Page("dir/a.pdf", 3, words(100))
    first, second = chunker.split_page(page), chunker.split_page(page)
    assert [c.id for c in first] == [c.id for c in second]
    assert first[0].id == chunk_id("dir/a.pdf", 3, 0) == "dir/a.pdf#p3#c0"
    assert [c.position for c in first] == list(range(len(first)))
    assert len({c.content_hash for c in first}) == len(first)


def test_markdown_headings_become_sections() -> None:
    md = "# Title\n\nIntro text.\n\n## Part A\n\nAlpha.\n\n### Deep\n\nDeeper.\n\n```\n# not a heading\n```\n\n## Part B\n\nBeta."
    assert [s for s, _ in markdown_sections(md)] == ["Title", "Title > Part A", "Title > Part A > Deep",
                                                     "Title > Part B"]
    chunks = Chunker(word_count, 256, 100, 10).split_page(Page("a.md", None, md, "md", headings=True))
    assert {c.section for c in chunks} == {"Title", "Title > Part A", "Title > Part A > Deep", "Title > Part B"}
    assert any("# not a heading" in c.text for c in chunks)


def test_consecutive_headings_share_one_section() -> None:
    assert markdown_sections("# A\n## B\n\nBody.") == [("A > B", "# A\n## B\n\nBody.")]

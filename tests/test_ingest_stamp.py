"""The unchanged-folder shortcut of `ingest` (rag/ingest/stamp.py): a re-run over an unchanged
folder answers from the stamp without opening the store, and anything that could make the
index differ from the folder (an edited, added or removed document, a setting, any write to
the index, a failed file, an interrupted run, a damaged stamp) takes the full path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rag import Pipeline
from rag.fakes import HashEmbedder
from rag.ingest.stamp import STAMP

DOCS = {"a.md": "# A\n\nAlpha text about apples. " * 30, "b.txt": "Beta text about bees. " * 30}


def age(folder: Path) -> None:
    """Date every document a minute back: a file written this instant is never trusted."""
    past = time.time() - 60
    for path in folder.iterdir():
        os.utime(path, (past, past))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    age(docs)
    return docs, tmp_path / "index"


def pipeline(index: Path, **options: object) -> Pipeline:
    return Pipeline(index=index, embedder=HashEmbedder(), **{"chunking.chunk_size_tokens": 32, **options})


def full_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the runs that take the full path."""
    calls: list[int] = []
    original = Pipeline._ingest

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "_ingest", counted)
    return calls


def test_an_unchanged_folder_is_answered_from_the_stamp(setup, monkeypatch) -> None:
    docs, index = setup
    first = pipeline(index).ingest(docs, progress=False)
    assert first.files_added == 2 and (index / STAMP).is_file()
    calls = full_runs(monkeypatch)
    again = pipeline(index).ingest(docs, progress=False)
    assert calls == [] and again.files_seen == 2 and again.files_unchanged == 2 and again.exit_code == 0
    reader = pipeline(index)
    reader.retriever().retrieve("apples", 2)  # a reader leaves the stamp valid
    pipeline(index).ingest(docs, progress=False)
    assert calls == []


@pytest.mark.parametrize("change", ["edit", "add", "remove", "setting", "forget", "stamp"])
def test_anything_that_may_differ_takes_the_full_path(setup, monkeypatch, change: str) -> None:
    docs, index = setup
    pipeline(index).ingest(docs, progress=False)
    options: dict[str, object] = {}
    if change == "edit":  # same size, new content
        (docs / "a.md").write_text(DOCS["a.md"].replace("apples", "grapes"), encoding="utf-8")
        age(docs)
    elif change == "add":
        (docs / "c.md").write_text("Gamma text. " * 20, encoding="utf-8")
        age(docs)
    elif change == "remove":
        (docs / "b.txt").unlink()
    elif change == "setting":
        options = {"chunking.chunk_overlap_tokens": 4}
    elif change == "forget":
        pipeline(index).forget("b.txt")
    else:
        (index / STAMP).write_text("{not json", encoding="utf-8")
    calls = full_runs(monkeypatch)
    report = pipeline(index, **options).ingest(docs, progress=False)
    assert calls == [1]
    expected = {"edit": (0, 1, 0), "add": (1, 0, 0), "remove": (0, 0, 1), "setting": (0, 2, 0), "forget": (1, 0, 0),
                "stamp": (0, 0, 0)}
    assert (report.files_added, report.files_updated, report.files_removed) == expected[change]
    calls.clear()
    pipeline(index, **options).ingest(docs, progress=False)
    assert calls == []  # and stamped again


def test_a_file_written_just_now_is_compared_by_content_next_time(setup, monkeypatch) -> None:
    docs, index = setup
    # "Just now" is within RACY_NS of the stamp; widened so a slow first ingest (a loaded machine) stays inside it.
    monkeypatch.setattr("rag.ingest.stamp.RACY_NS", 600_000_000_000)
    (docs / "a.md").write_text(DOCS["a.md"], encoding="utf-8")  # modified this instant
    pipeline(index).ingest(docs, progress=False)
    calls = full_runs(monkeypatch)
    assert pipeline(index).ingest(docs, progress=False).files_unchanged == 2
    assert calls == [1]


def test_failed_files_or_an_interrupted_run_leave_no_stamp(setup, monkeypatch) -> None:
    docs, index = setup
    pipeline(index).ingest(docs, progress=False)
    (docs / "bad.pdf").write_bytes(b"not a pdf at all")
    report = pipeline(index).ingest(docs, progress=False)
    assert report.files_failed and not (index / STAMP).exists()
    (docs / "bad.pdf").unlink()
    pipeline(index).ingest(docs, progress=False)
    assert (index / STAMP).is_file()
    (docs / "c.md").write_text("Gamma text. " * 20, encoding="utf-8")

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Pipeline, "_ingest", crash)
    with pytest.raises(KeyboardInterrupt):
        pipeline(index).ingest(docs, progress=False)
    assert not (index / STAMP).exists()


def test_another_embedding_model_is_checked_by_the_full_path(setup) -> None:
    from rag.errors import IndexMismatchError

    docs, index = setup
    pipeline(index).ingest(docs, progress=False)
    other = Pipeline(index=index, embedder=HashEmbedder(name="another-model"), **{"chunking.chunk_size_tokens": 32})
    with pytest.raises(IndexMismatchError):
        other.ingest(docs, progress=False)
    configured = Pipeline(index=index, **{"chunking.chunk_size_tokens": 32})  # the default model, by name
    assert configured._embedder_name() != "hash-embedder"

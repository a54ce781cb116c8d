"""Incremental ingest with a fake embedder and a real Chroma index in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_pdf

from rag import Pipeline
from rag.errors import IndexMismatchError, IngestLockedError, NothingToIngestError
from rag.fakes import HashEmbedder
from rag.store import ChromaStore

PARAGRAPH = "The {0} is a remarkable subject. Scholars of the {0} wrote many books about it. "


def write_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "owls.md").write_text("# Owls\n\n" + (PARAGRAPH.format("owl") * 30), encoding="utf-8")
    (folder / "bees.txt").write_text(PARAGRAPH.format("bee") * 20, encoding="utf-8")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "cats.html").write_text(
        "<h1>Cats</h1><p>" + PARAGRAPH.format("cat") * 10 + "</p>", encoding="utf-8")
    return folder


def pipeline(index: Path, embedder: HashEmbedder | None = None, **options: object) -> Pipeline:
    return Pipeline(index=index, embedder=embedder or HashEmbedder(),
                    **{"chunking.chunk_size_tokens": 48, "chunking.chunk_overlap_tokens": 8, **options})


def stored(index: Path) -> dict[str, str]:
    """chunk id -> source, read back from the index on disk."""
    store = ChromaStore(index, create=False)
    return {c.id: c.source for c in store.all_chunks()}


def test_first_run_adds_everything_and_second_run_embeds_nothing(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    embedder = HashEmbedder()
    first = pipeline(index, embedder).ingest(docs, progress=False)
    assert (first.files_seen, first.files_added, first.files_failed) == (3, 3, [])
    ids = stored(index)
    assert first.chunks_upserted == len(ids) > 3
    assert set(ids.values()) == {"docs/owls.md", "docs/bees.txt", "docs/sub/cats.html"}

    embedder.calls.clear()
    second = pipeline(index, embedder).ingest(docs, progress=False)
    assert second.files_unchanged == second.files_seen == 3
    assert second.chunks_upserted == second.chunks_deleted == 0
    assert sum(embedder.calls) == 0 and second.chunks_embedded == 0
    assert stored(index) == ids


def test_edited_file_is_replaced_and_removed_file_disappears(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    pipeline(index).ingest(docs, progress=False)
    before = stored(index)
    (docs / "owls.md").write_text("# Owls\n\nOwls are short now.", encoding="utf-8")
    (docs / "bees.txt").unlink()
    report = pipeline(index).ingest(docs, progress=False)
    after = stored(index)
    assert (report.files_updated, report.files_removed, report.files_unchanged) == (1, 1, 1)
    assert "docs/bees.txt" not in after.values()
    assert [i for i, s in after.items() if s == "docs/owls.md"] == ["docs/owls.md#c0"]
    assert report.chunks_deleted == len(before) - len(after)
    assert [f["source"] for f in pipeline(index).info()["sources"]] == ["docs/owls.md", "docs/sub/cats.html"]


def test_unchanged_chunks_of_an_edited_file_reuse_their_vectors(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    pipeline(index).ingest(docs, progress=False)
    with (docs / "owls.md").open("a", encoding="utf-8") as handle:
        handle.write("\n\nA closing remark about owl feathers.\n")
    embedder = HashEmbedder()
    report = pipeline(index, embedder).ingest(docs, progress=False)
    assert report.files_updated == 1
    assert 0 < report.chunks_embedded < report.chunks_upserted


def test_identical_texts_are_embedded_once(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (docs / name).write_text("Exactly the same words in every file.", encoding="utf-8")
    embedder = HashEmbedder()
    report = pipeline(tmp_path / "index", embedder).ingest(docs, progress=False)
    assert report.chunks_upserted == 3 and sum(embedder.calls) == 1


def test_bad_files_are_reported_and_neighbours_ingested(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs")
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\nthis is not really a pdf\n%%EOF")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (docs / "empty.md").write_bytes(b"")
    (docs / "latin1.txt").write_bytes(("Un café très français à Besançon. " * 10).encode("latin-1"))
    make_pdf(docs / "locked.pdf", ["secret"], password="pw")
    report = pipeline(tmp_path / "index").ingest(docs, progress=False)
    failed = {f["path"]: f["error"] for f in report.files_failed}
    assert set(failed) == {"docs/corrupt.pdf", "docs/binary.txt", "docs/empty.md", "docs/locked.pdf"}
    assert "binary" in failed["docs/binary.txt"] and "empty" in failed["docs/empty.md"]
    assert report.exit_code == 1 and report.files_added == 4
    texts = {c.source: c.text for c in ChromaStore(tmp_path / "index", create=False).all_chunks()}
    assert "café très français" in texts["docs/latin1.txt"]


def test_a_good_file_turned_bad_keeps_its_chunks(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    pipeline(index).ingest(docs, progress=False)
    before = stored(index)
    (docs / "bees.txt").write_bytes(b"\x00\x01\x02" * 100)
    report = pipeline(index).ingest(docs, progress=False)
    assert [f["path"] for f in report.files_failed] == ["docs/bees.txt"]
    assert stored(index) == before


def test_nothing_ingestible_is_an_error_and_changes_nothing(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    pipeline(index).ingest(docs, progress=False)
    before = stored(index)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "archive.bin").write_bytes(b"bin")
    with pytest.raises(NothingToIngestError, match="1 other file"):
        pipeline(index).ingest(empty, progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.txt").write_bytes(b"")
    with pytest.raises(NothingToIngestError, match="x.txt: empty file"):
        pipeline(index).ingest(bad, progress=False)
    assert stored(index) == before


def test_another_embedding_model_is_refused(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    pipeline(index).ingest(docs, progress=False)
    with pytest.raises(IndexMismatchError, match="hash-embedder.*other-model"):
        pipeline(index, HashEmbedder(name="other-model")).ingest(docs, progress=False)
    with pytest.raises(IndexMismatchError, match="64 dims"):
        pipeline(index, HashEmbedder(dimension=32)).ingest(docs, progress=False)


def test_changed_chunker_settings_rechunk_every_file(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    pipeline(index).ingest(docs, progress=False)
    report = pipeline(index, **{"chunking.chunk_size_tokens": 100}).ingest(docs, progress=False)
    assert report.files_updated == 3
    assert pipeline(index).info()["chunker"] == "recursive-tokens:100:8"


class CrashingStore(ChromaStore):
    """Dies after its first upsert, as a killed process would."""

    def upsert(self, chunks, vectors):  # type: ignore[no-untyped-def]
        super().upsert(chunks[: len(chunks) // 2], vectors[: len(chunks) // 2])
        raise KeyboardInterrupt("killed")


def test_a_run_killed_half_way_is_repaired_by_the_next(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    pipeline(index).ingest(docs, progress=False)
    clean = stored(index)
    (docs / "owls.md").write_text("# Owls\n\n" + PARAGRAPH.format("great horned owl") * 12, encoding="utf-8")
    (docs / "new.txt").write_text(PARAGRAPH.format("newt") * 10, encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        Pipeline(index=index, embedder=HashEmbedder(), store=CrashingStore(index),
                 **{"chunking.chunk_size_tokens": 48, "chunking.chunk_overlap_tokens": 8}
                 ).ingest(docs, progress=False)
    statuses = {s["source"]: s["status"] for s in pipeline(index).info()["sources"]}
    assert statuses["docs/new.txt"] == "pending" and statuses["docs/owls.md"] == "pending"
    (docs / "new.txt").unlink()  # the half-written new file is gone before the next run
    report = pipeline(index).ingest(docs, progress=False)
    assert report.files_updated == 1 and report.files_removed == 1
    repaired = stored(index)
    assert "docs/new.txt" not in repaired.values()
    fresh = tmp_path / "fresh"
    pipeline(fresh).ingest(docs, progress=False)
    assert repaired == stored(fresh)  # same ids as a clean build: no duplicates, no orphans
    assert repaired != clean


def test_a_second_writer_is_locked_out(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    p = pipeline(index)
    p.ingest(docs, progress=False)
    with p.store().write_lock(), pytest.raises(IngestLockedError, match="another ingest"):
        pipeline(index).ingest(docs, progress=False)


def test_forget_removes_one_source(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs"), tmp_path / "index"
    pipeline(index).ingest(docs, progress=False)
    deleted = pipeline(index).forget("docs/bees.txt")
    assert deleted > 0 and "docs/bees.txt" not in stored(index).values()
    info = pipeline(index).info()
    assert [s["source"] for s in info["sources"]] == ["docs/owls.md", "docs/sub/cats.html"]
    assert info["chunks"] == len(stored(index))

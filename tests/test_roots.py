"""An index of many roots: each ingest touches only its own root's documents; `--replace`,
`forget`, filters by root, and the migration of an index from before roots."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from rag import Pipeline
from rag.cli import main
from rag.errors import InputError, NothingToIngestError
from rag.fakes import HashEmbedder, OverlapReader
from rag.retrieval.lexical import SqliteLexicalIndex
from rag.store import ChromaStore

FIXTURES = Path(__file__).parent / "fixtures"
PARAGRAPH = "The {0} is a remarkable subject. Scholars of the {0} wrote many books about it. "


class CountingEmbedder(HashEmbedder):
    """Counts the texts it embeds."""

    embedded = 0

    def embed_documents(self, texts, progress=False):  # type: ignore[no-untyped-def]
        CountingEmbedder.embedded += len(texts)
        return super().embed_documents(texts, progress)


def pipe(index: Path, embedder: HashEmbedder | None = None) -> Pipeline:
    return Pipeline(index=index, embedder=embedder or HashEmbedder(), reader=OverlapReader(),
                    **{"chunking.chunk_size_tokens": 48, "chunking.chunk_overlap_tokens": 8})


def folder(path: Path, docs: dict[str, str]) -> Path:
    for name, text in docs.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    return path


def sources(index: Path) -> dict[str, str]:
    """chunk id -> source, read back from disk."""
    return {c.id: c.source for c in ChromaStore(index, create=False).all_chunks()}


@pytest.fixture()
def two(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two folders that both hold readme.md, each with one more file."""
    a = folder(tmp_path / "notes" / "a", {"readme.md": "# A\n\n" + PARAGRAPH.format("walrus") * 6,
                                          "only-a.txt": PARAGRAPH.format("heron") * 6})
    b = folder(tmp_path / "notes" / "b", {"readme.md": "# B\n\n" + PARAGRAPH.format("glacier") * 6,
                                          "sub/only-b.txt": PARAGRAPH.format("volcano") * 6})
    return a, b, tmp_path / "idx"


def test_two_folders_with_equal_paths_are_two_roots_and_the_second_removes_nothing(two) -> None:
    a, b, index = two
    first = pipe(index).ingest(a, progress=False)
    before = sources(index)
    second = pipe(index).ingest(b, progress=False)
    assert (first.root, first.new_root, second.root, second.new_root) == ("a", True, "b", True)
    assert second.files_removed == 0 and second.chunks_deleted == 0
    after = sources(index)
    assert {k: v for k, v in after.items() if k in before} == before  # every chunk of a kept as is
    assert set(after.values()) == {"a/readme.md", "a/only-a.txt", "b/readme.md", "b/sub/only-b.txt"}
    info = pipe(index).info()
    assert [(r["label"], r["path"], r["documents"]) for r in info["roots"]] == [
        ("a", str(a.resolve()), 2), ("b", str(b.resolve()), 2)]
    assert sum(r["chunks"] for r in info["roots"]) == info["chunks"] == len(after)
    walrus = pipe(index).ask("Which remarkable subject did scholars write about, the walrus?")
    glacier = pipe(index).ask("Which remarkable subject did scholars write about, the glacier?")
    assert walrus.sources[0].source == "a/readme.md" and glacier.sources[0].source == "b/readme.md"


def test_a_file_removed_from_one_root_is_deleted_and_nothing_else(two) -> None:
    a, b, index = two
    pipe(index).ingest(a, progress=False)
    pipe(index).ingest(b, progress=False)
    before = sources(index)
    (b / "readme.md").unlink()
    report = pipe(index).ingest(b, progress=False)
    assert (report.root, report.new_root, report.files_removed) == ("b", False, 1)
    assert sources(index) == {k: v for k, v in before.items() if v != "b/readme.md"}
    assert pipe(index).ingest(a, progress=False).files_unchanged == 2  # a is still whole


def test_replace_makes_the_folder_the_only_root(two) -> None:
    a, b, index = two
    assert pipe(index).plan_ingest(a)["new_root"] and not index.exists()  # no index yet: nothing to remove
    pipe(index).ingest(a, progress=False)
    pipe(index).ingest(b, progress=False)
    plan = pipe(index).plan_ingest(b, replace=True)
    assert plan["removes"] == ["a/only-a.txt", "a/readme.md"] and plan["removes_roots"] == ["a"]
    assert pipe(index).plan_ingest(b)["removes"] == []
    report = pipe(index).ingest(b, progress=False, replace=True)
    assert report.files_removed == 2
    assert set(sources(index).values()) == {"b/readme.md", "b/sub/only-b.txt"}
    assert [r["label"] for r in pipe(index).info()["roots"]] == ["b"]


def test_forget_a_root_or_one_document(two) -> None:
    a, b, index = two
    pipe(index).ingest(a, progress=False)
    pipe(index).ingest(b, progress=False)
    assert pipe(index).forget("b/sub/only-b.txt") > 0
    assert set(sources(index).values()) == {"a/readme.md", "a/only-a.txt", "b/readme.md"}
    assert pipe(index).forget("a") > 0
    assert set(sources(index).values()) == {"b/readme.md"}
    assert [r["label"] for r in pipe(index).info()["roots"]] == ["b"]
    lexical = SqliteLexicalIndex(index / "lexical-documents.sqlite3")
    assert set(lexical.id_hashes()) == set(sources(index))  # the lexical index followed
    with pytest.raises(InputError, match="neither a root nor a document.*its roots: b"):
        pipe(index).forget("a")


def test_a_label_names_a_root_and_moves_one(two, tmp_path: Path) -> None:
    a, b, index = two
    assert pipe(index).ingest(a, progress=False, label="handbook").root == "handbook"
    moved = tmp_path / "moved"
    shutil.copytree(a, moved)
    report = pipe(index).ingest(moved, progress=False, label="handbook")
    assert (report.new_root, report.files_unchanged, report.files_added) == (False, 2, 0)  # nothing re-read twice
    assert [(r["label"], r["path"]) for r in pipe(index).info()["roots"]] == [("handbook", str(moved.resolve()))]
    with pytest.raises(InputError, match="root label"):
        pipe(index).ingest(b, progress=False, label="../evil")
    with pytest.raises(InputError, match="already the root 'handbook'"):
        pipe(index).ingest(moved, progress=False, label="other")
    for name in ("readme.md", "only-a.txt"):
        (moved / name).unlink()
    with pytest.raises(NothingToIngestError, match="nothing was changed: .* `rag forget handbook`"):
        pipe(index).ingest(moved, progress=False)
    assert pipe(index).info()["roots"][0]["documents"] == 2
    single = folder(tmp_path / "shelf", {"manual.md": PARAGRAPH.format("gearbox") * 6}) / "manual.md"
    assert pipe(index).ingest(single, progress=False).root == "manual"  # a document can be a root
    assert "manual/manual.md" in sources(index).values()


def test_filters_take_a_root_label_or_a_glob(two) -> None:
    a, b, index = two
    pipe(index).ingest(a, progress=False)
    pipe(index).ingest(b, progress=False)
    question = "Which remarkable subject did scholars write about?"
    for wanted, roots in (("b", {"b"}), ("a/*", {"a"}), ("*/readme.md", {"a", "b"})):
        answer = pipe(index).ask(question, k=8, filter={"source": wanted})
        assert {s.source.split("/")[0] for s in answer.sources} == roots, wanted
    with pytest.raises(InputError, match="matches no indexed source"):
        pipe(index).ask(question, filter={"source": "c"})


def test_the_cli_scenario_of_the_issue(two, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    a, b, index = two
    monkeypatch.setattr("rag.cli.base.pipeline_from", lambda args: pipe(Path(args.index)))
    monkeypatch.setattr("rag.cli.entry.pipeline_from", lambda args: pipe(Path(args.index)))
    assert main(["ingest", str(a), "--index", str(index)]) == 0
    assert main(["ingest", str(b), "--index", str(index)]) == 0
    assert "new root b: 2 files seen: 2 added" in capsys.readouterr().out
    assert main(["info", "--index", str(index), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in info["roots"]] == ["a", "b"] and info["files"] == 4
    assert main(["forget", "a", "--index", str(index)]) == 0
    assert main(["info", "--index", str(index)]) == 0
    shown = capsys.readouterr().out
    assert "1 roots, 2 files" in shown and "root b: 2 documents" in shown and "a/readme.md" not in shown


def legacy(tmp_path: Path) -> tuple[Path, Path]:
    """The fixture index from before roots, its folder where its metadata says it is."""
    with tarfile.open(FIXTURES / "legacy-index.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    docs, index = tmp_path / "docs", tmp_path / "index"
    ChromaStore(index).set_metadata({"source_root": str(docs.resolve())})  # as if never moved
    return docs, index


def test_an_index_from_before_roots_is_migrated_once_without_re_embedding(tmp_path: Path) -> None:
    docs, index = legacy(tmp_path)
    store = ChromaStore(index, create=False)
    assert "layout_version" not in store.metadata()
    old = {c.id: c for c in store.all_chunks()}
    vectors = store.vectors_by_id(sorted(old))
    assert {c.source for c in old.values()} == {"owls.md", "docs/owls.md", "bees.txt", "sub/cats.html"}
    question = "Which animal sleeps sixteen hours a day?"
    before = pipe(index).ask(question)  # an old index answers before any migration
    info = pipe(index).info()  # the label the migration will give, before it runs
    assert (info["layout"], [r["label"] for r in info["roots"]]) == (1, ["docs-2"])
    assert {f["root"] for f in info["sources"]} == {"docs-2"}
    assert pipe(index).plan_ingest(docs, replace=True)["removes"] == []  # it is the same root
    CountingEmbedder.embedded = 0
    report = pipe(index, CountingEmbedder()).ingest(docs, progress=False)
    assert CountingEmbedder.embedded == 0 and report.files_unchanged == 4 and report.files_removed == 0
    # A subfolder is named like the folder: its label steps aside, so no old source looks migrated.
    assert report.root == "docs-2" and not report.new_root
    store = ChromaStore(index, create=False)
    new = {c.id: c for c in store.all_chunks()}
    assert set(new) == set(old)  # the same chunk ids, texts, vectors
    assert all(new[i].source == "docs-2/" + c.source and new[i].text == c.text for i, c in old.items())
    assert all((store.vectors_by_id([i])[i] == v).all() for i, v in vectors.items())
    assert set(store.manifest()) == {"docs-2/" + s for s in ("owls.md", "docs/owls.md", "bees.txt", "sub/cats.html")}
    lexical = SqliteLexicalIndex(index / "lexical-documents.sqlite3")
    assert set(lexical.distinct("source")) == {c.source for c in new.values()}
    after = pipe(index).ask(question)
    assert (after.text, after.refused) == (before.text, before.refused) and "Cats sleep" in after.text
    assert [s.source for s in after.sources] == ["docs-2/" + s.source for s in before.sources]
    assert pipe(index).info()["layout"] == 2
    second = pipe(index, CountingEmbedder()).ingest(docs, progress=False)  # once: nothing more to do
    assert second.files_unchanged == 4 and CountingEmbedder.embedded == 0


def test_a_migration_killed_half_way_is_finished_by_the_next_write(tmp_path: Path, monkeypatch) -> None:
    import rag.ingest.migrate as migrate

    docs, index = legacy(tmp_path)
    calls = []
    real = migrate._rewrite

    def dies_after_one(*args):  # type: ignore[no-untyped-def]
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(1)
        real(*args)

    monkeypatch.setattr(migrate, "GROUP", 1)  # one document per step
    monkeypatch.setattr(migrate, "_rewrite", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        pipe(index).ingest(docs, progress=False)
    monkeypatch.setattr(migrate, "_rewrite", real)
    assert pipe(index).forget("docs-2/bees.txt") > 0  # any write finishes it first
    assert set(ChromaStore(index, create=False).manifest()) == {
        "docs-2/owls.md", "docs-2/docs/owls.md", "docs-2/sub/cats.html"}
    assert set(sources(index).values()) == {"docs-2/owls.md", "docs-2/docs/owls.md", "docs-2/sub/cats.html"}

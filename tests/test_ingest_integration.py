"""Ingest with the real MiniLM, real Chroma on disk and the `rag` CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO, make_pdf

from rag import Pipeline
from rag.datasets import article_markdown, load_squad_json
from rag.fakes import HashEmbedder
from rag.ingest.chunking import Chunker
from rag.store import ChromaStore
from rag.types import Page

pytestmark = pytest.mark.integration


def rag_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_no_chunk_exceeds_the_model_limit_on_real_text(minilm, dev10_path: Path) -> None:
    chunker = Chunker(minilm.count_tokens, minilm.max_tokens, 200, 30)
    pages = [Page(f"{a['title']}.md", None, article_markdown(a), "md", headings=True) for a in load_squad_json(dev10_path)]
    chunks = chunker.split_pages(pages)
    counts = [minilm.count_tokens(c.text) for c in chunks]
    assert len(chunks) > 300
    assert max(counts) <= 200 <= minilm.max_tokens
    # Tight chunks, not slivers: most of the budget is used.
    assert sum(counts) / len(counts) > 100


def test_cli_ingest_twice_is_a_no_op_the_second_time(tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = rag_cli("ingest", str(DEMO), "--index", str(index), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert set(report) == {"root", "new_root", "files_seen", "files_added", "files_updated", "files_unchanged",
                           "files_removed", "files_ignored", "files_failed", "chunks_upserted",
                           "chunks_deleted", "seconds"}
    assert report["files_added"] == report["files_seen"] == 4 and report["chunks_upserted"] > 50
    assert (report["root"], report["new_root"]) == ("wiki-demo", True)
    ids = sorted(c.id for c in ChromaStore(index, create=False).all_chunks())

    second = json.loads(rag_cli("ingest", str(DEMO), "--index", str(index), "--json").stdout)
    assert second["chunks_upserted"] == 0 and second["files_unchanged"] == second["files_seen"]
    assert (second["root"], second["new_root"]) == ("wiki-demo", False)  # the stamp's shortcut says so too
    assert sorted(c.id for c in ChromaStore(index, create=False).all_chunks()) == ids

    info = json.loads(rag_cli("info", "--index", str(index), "--json").stdout)
    assert info["embedding_model"] == "all-MiniLM-L6-v2" and info["embedding_dimension"] == 384
    assert info["chunks"] == len(ids) and info["files"] == 4


def test_cli_reports_a_corrupt_pdf_exits_1_and_keeps_good_files(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DEMO, docs)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Cat")
    (docs / "latin1.txt").write_bytes("Café crème à Besançon, déjà vu. ".encode("latin-1") * 20)
    result = rag_cli("ingest", str(docs), "--index", str(tmp_path / "index"), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert [f["path"] for f in report["files_failed"]] == ["docs/broken.pdf"]
    sources = {c.source for c in ChromaStore(tmp_path / "index", create=False).all_chunks()}
    assert sources == {f"docs/{name}" for name in ("Huguenot.pdf", "Immune_system.md", "Packet_switching.md",
                                                   "Steam_engine.md", "latin1.txt")}


def test_cli_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    missing = rag_cli("ingest", str(tmp_path / "nope"), "--index", str(tmp_path / "i"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    (tmp_path / "only.bin").write_bytes(b"x")
    nothing = rag_cli("ingest", str(tmp_path), "--index", str(tmp_path / "i"))
    assert nothing.returncode == 2 and "no documents of a known format (" in nothing.stderr


def test_real_pdf_pages_reach_the_index(minilm, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "report.pdf", ["Owls hunt at night with silent feathers. " * 5,
                                   "Bees make honey from nectar in the hive. " * 5,
                                   "Cats sleep for most of the day in the sun. " * 5])
    p = Pipeline(index=tmp_path / "index", embedder=minilm)
    p.ingest(docs, progress=False)
    store = p.store()
    hits = store.query(minilm.embed_query("Where does honey come from?"), k=1)
    assert (hits[0].chunk.source, hits[0].chunk.page) == ("docs/report.pdf", 2)
    assert {c.page for c in store.all_chunks()} == {1, 2, 3}


def test_index_built_with_another_model_is_refused(minilm, tmp_path: Path) -> None:
    Pipeline(index=tmp_path / "index", embedder=HashEmbedder(dimension=384)).ingest(DEMO, progress=False)
    implicit = rag_cli("ingest", str(DEMO), "--index", str(tmp_path / "index"))
    assert implicit.returncode == 1
    assert "built with embedding model 'hash-embedder', which cannot be loaded" in implicit.stderr
    (tmp_path / "rag.toml").write_text('[embedding]\nmodel = "all-MiniLM-L6-v2"\n')
    explicit = rag_cli("ingest", str(DEMO), "--index", str(tmp_path / "index"), cwd=tmp_path)
    assert explicit.returncode == 1
    assert "built with embedding model 'hash-embedder'" in explicit.stderr
    assert "embedding.model is 'all-MiniLM-L6-v2'" in explicit.stderr

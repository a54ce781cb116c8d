"""SIGKILL an ingest process at several points between its writes, re-run it, and check the index
equals a clean ingest of the same folder: chunk ids and texts, manifest, lexical index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, write_docs

from rag import Pipeline
from rag.fakes import HashEmbedder
from rag.retrieval.lexical import SqliteLexicalIndex
from rag.store import ChromaStore

# Runs an ingest whose store and lexical index announce each write, then pause so the test can
# kill the process right there. Small groups, so the run has several group writes.
CHILD = r"""
import sys, time
import rag.ingest.pipeline as pipeline
from rag import Pipeline
from rag.fakes import HashEmbedder
pipeline.GROUP_CHUNKS = 6
WATCHED = {"put_manifest", "upsert", "delete", "remove_manifest"}

class Announcing:
    def __init__(self, inner, name):
        self.inner, self.name = inner, name
    def __getattr__(self, attr):
        found = getattr(self.inner, attr)
        if attr not in WATCHED:
            return found
        def announced(*args, **kwargs):
            result = found(*args, **kwargs)
            print(f"{self.name}.{attr}", flush=True)
            time.sleep(0.5)
            return result
        return announced

p = Pipeline(index=sys.argv[2], embedder=HashEmbedder(), **{"chunking.chunk_size_tokens": 24,
             "chunking.chunk_overlap_tokens": 4})
p._store = Announcing(p.store(create=True), "store")
p._lexical = Announcing(p.lexical_index(), "lexical")
p.ingest(sys.argv[1], progress=False)
print("finished", flush=True)
"""


def version(n: int) -> dict[str, str]:
    """A folder's contents at edit `n`: some files change, one goes, one arrives."""
    docs = {f"doc{i}.txt": " ".join(f"Sentence {j} of document {i} in version {n if i % 3 == 0 else 1}."
                                    for j in range(8)) for i in range(8)}
    if n == 2:
        del docs["doc7.txt"]
        docs["new.txt"] = "A new document with its own words about lighthouses and harbours. " * 4
    return docs


def pipe(index: Path) -> Pipeline:
    return Pipeline(index=index, embedder=HashEmbedder(), **{"chunking.chunk_size_tokens": 24,
                                                              "chunking.chunk_overlap_tokens": 4})


def snapshot(index: Path) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, ...]], dict[str, str]]:
    store = ChromaStore(index, create=False)
    manifest = store.manifest()
    assert all(e.status == "complete" for e in manifest.values())
    texts = {c.id: c.text for c in store.all_chunks()}
    lexical = SqliteLexicalIndex(index / "lexical-documents.sqlite3").id_hashes()
    return store.id_hashes(), texts, {s: e.chunk_ids for s, e in manifest.items()}, lexical


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("clean")
    pipe(root / "index").ingest(write_docs(root / "docs", version(2)), progress=False)
    return snapshot(root / "index")


# (marker, occurrence): kill right after that write.
KILL_POINTS = [("store.put_manifest", 1),   # intent records written, nothing else
               ("store.upsert", 1),         # Chroma has the group, the lexical index not yet
               ("lexical.upsert", 1),       # both have it, stale chunks not yet deleted
               ("store.delete", 2),         # Chroma lost stale chunks, the lexical index not yet
               ("store.put_manifest", 3),   # a first group complete, the next one pending
               ("store.delete", 5)]         # last: the vanished file gone from Chroma only


def kill_at(docs: Path, index: Path, marker: str, occurrence: int) -> None:
    """Ingest `docs` into `index` in a child process, SIGKILLed right after that write."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(docs), str(index)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    seen, killed = 0, False
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == marker:
            seen += 1
            if seen == occurrence:
                child.send_signal(signal.SIGKILL)
                killed = True
                break
    child.wait(timeout=60)
    assert killed, f"the run finished before the {occurrence}th {marker}"
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize(("marker", "occurrence"), KILL_POINTS)
def test_sigkill_then_rerun_equals_a_clean_ingest(tmp_path: Path, clean: tuple, marker: str,
                                                   occurrence: int) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    pipe(index).ingest(write_docs(docs, version(1)), progress=False)
    for name in os.listdir(docs):
        (docs / name).unlink()
    write_docs(docs, version(2))
    kill_at(docs, index, marker, occurrence)
    pipe(index).ingest(docs, progress=False)  # the re-run repairs
    assert snapshot(index) == clean


OTHER = {"doc1.txt": "Another root holds a doc1.txt too, about tides and moons. " * 6,
         "notes.txt": "Notes of the other root, about barometers and fog. " * 6}


@pytest.fixture(scope="module")
def clean_two(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("clean-two")
    pipe(root / "index").ingest(write_docs(root / "other", OTHER), progress=False)
    pipe(root / "index").ingest(write_docs(root / "docs", version(2)), progress=False)
    return snapshot(root / "index")


@pytest.mark.parametrize(("marker", "occurrence"), KILL_POINTS[1::2])
def test_sigkill_with_two_roots_leaves_the_other_root_whole(tmp_path: Path, clean_two: tuple, marker: str,
                                                            occurrence: int) -> None:
    docs, other, index = tmp_path / "docs", tmp_path / "other", tmp_path / "index"
    pipe(index).ingest(write_docs(other, OTHER), progress=False)
    pipe(index).ingest(write_docs(docs, version(1)), progress=False)
    kept = {cid: text for cid, text in snapshot(index)[1].items() if cid.startswith("other/")}
    for name in os.listdir(docs):
        (docs / name).unlink()
    write_docs(docs, version(2))
    kill_at(docs, index, marker, occurrence)
    assert {c.id: c.text for c in ChromaStore(index, create=False).all_chunks()
            if c.id.startswith("other/")} == kept  # killed mid-way, the other root is untouched
    pipe(index).ingest(docs, progress=False)  # the re-run repairs
    assert snapshot(index) == clean_two
    assert [r["label"] for r in pipe(index).info()["roots"]] == ["docs", "other"]

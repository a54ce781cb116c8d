"""The BM25 lexical index: user text never breaks a query, and the index stays in step with
Chroma through edits, removals, a killed ingest and a lost index file."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_docs

from rag import Pipeline
from rag.fakes import HashEmbedder
from rag.retrieval.lexical import SqliteLexicalIndex, query_words, sync_lexical
from rag.store import ChromaStore
from rag.types import Chunk

DOCS = {
    "owls.md": "# Owls\n\nOwls hunt mice at night using silent feathers and sharp hearing.",
    "bees.txt": "Bees collect nectar from flowers and turn it into honey inside the hive.",
    "codes.txt": "Error ZX-4471 means the C++ runtime lost its foo-bar handle. Restart it.",
}
NASTY = ['C++', 'foo-bar', '"unbalanced', 'NEAR(owls bees)', 'owls AND OR NOT', '*', '^start',
         'a:b', '(', 'col:value', "it's", '-', '""', 'bees OR', '{owls}', 'honey*', '?', '  ', 'é']


def chunk(cid: str, text: str, source: str = "a.txt", page: int | None = None, section: str = "") -> Chunk:
    return Chunk(cid, text, source, page, 0, f"h-{cid}-{len(text)}", section)


@pytest.fixture
def lexical(tmp_path: Path) -> SqliteLexicalIndex:
    index = SqliteLexicalIndex(tmp_path / "lex.sqlite3")
    index.upsert([chunk(f"c{i}", text) for i, text in enumerate(DOCS.values())])
    return index


@pytest.mark.parametrize("question", NASTY)
def test_queries_with_fts_operators_or_punctuation_do_not_raise(lexical: SqliteLexicalIndex,
                                                                question: str) -> None:
    assert isinstance(lexical.search(question, 5), list)


def test_query_words_are_plain_words_with_stopwords_dropped() -> None:
    assert query_words("What is the C++ foo-bar? Bar!") == ["c", "foo", "bar"]
    assert query_words("who is it") == ["who", "is", "it"]  # only stopwords: keep them
    assert query_words("?!") == []


def test_bm25_ranks_the_exact_code_first_and_upsert_replaces_by_id(lexical: SqliteLexicalIndex) -> None:
    hits = lexical.search("what does ZX-4471 mean", 3)
    assert hits[0].chunk.id == "c2" and hits[0].chunk.text.startswith("Error ZX-4471")
    assert hits[0].score > 0
    lexical.upsert([chunk("c2", "Nothing to see here.")])
    assert lexical.count() == 3
    assert lexical.search("ZX-4471", 3) == []
    lexical.delete(["c2", "missing-id"])
    assert lexical.ids() == {"c0", "c1"}


def test_stemming_matches_word_forms(lexical: SqliteLexicalIndex) -> None:
    assert lexical.search("hunting owl", 1)[0].chunk.id == "c0"


def pipe(index: Path, **options: object) -> Pipeline:
    return Pipeline(index=index, embedder=HashEmbedder(), **options)


def in_step(index: Path) -> bool:
    store = ChromaStore(index, create=False)
    lexical = SqliteLexicalIndex(index / "lexical-documents.sqlite3")
    texts = {c.id: c.text for c in store.all_chunks()}
    found = {h.chunk.id for word in ("owls", "bees", "error", "lemurs") for h in lexical.search(word, 50)}
    return store.id_hashes() == lexical.id_hashes() and found <= set(texts) and len(texts) > 0


def test_lexical_index_follows_an_edited_and_a_removed_file(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs", DOCS), tmp_path / "index"
    pipe(index).ingest(docs, progress=False)
    assert in_step(index)
    (docs / "owls.md").write_text("# Lemurs\n\nLemurs live on Madagascar and eat fruit.", encoding="utf-8")
    (docs / "bees.txt").unlink()
    report = pipe(index).ingest(docs, progress=False)
    assert (report.files_updated, report.files_removed) == (1, 1)
    assert in_step(index)
    lexical = SqliteLexicalIndex(index / "lexical-documents.sqlite3")
    assert lexical.search("bees honey", 5) == [] and lexical.search("owls", 5) == []
    assert lexical.search("lemurs madagascar", 1)[0].chunk.source == "docs/owls.md"


class DiesAfterChroma(SqliteLexicalIndex):
    """A lexical index whose process is killed right after Chroma's write of a group."""

    def upsert(self, chunks: object) -> None:  # type: ignore[override]
        raise KeyboardInterrupt("killed between the Chroma write and the lexical write")


def test_ingest_killed_between_the_two_writes_is_repaired_by_the_next_run(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs", DOCS), tmp_path / "index"
    pipe(index).ingest(docs, progress=False)
    (docs / "owls.md").write_text("# Owls\n\nBarn owls swallow voles whole.", encoding="utf-8")
    killed = pipe(index)
    killed._lexical = DiesAfterChroma(index / "lexical-documents.sqlite3")
    with pytest.raises(KeyboardInterrupt):
        killed.ingest(docs, progress=False)
    assert not in_step(index)  # Chroma has the new owls text, the lexical index the old one
    report = pipe(index).ingest(docs, progress=False)
    assert report.files_updated == 1  # the pending manifest entry is finished
    assert in_step(index)
    assert "voles" in SqliteLexicalIndex(index / "lexical-documents.sqlite3").search("voles", 1)[0].chunk.text


def test_opening_a_retriever_rebuilds_a_missing_lexical_index_and_repairs_a_stale_one(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs", DOCS), tmp_path / "index"
    pipe(index).ingest(docs, progress=False)
    (index / "lexical-documents.sqlite3").unlink()
    hits = pipe(index, **{"retrieval.mode": "lexical"}).retriever().retrieve("honey nectar", 2).hits
    assert hits[0].chunk.source == "docs/bees.txt"
    assert in_step(index)
    # A stale index: an id the store no longer has, and one chunk missing.
    lexical = SqliteLexicalIndex(index / "lexical-documents.sqlite3")
    lexical.upsert([chunk("ghost#c0", "ghost honey nectar nectar honey", "ghost.txt")])
    lexical.delete(["docs/codes.txt#c0"])
    assert pipe(index, **{"retrieval.mode": "hybrid"}).retriever().retrieve("ZX-4471", 3).hits[0].chunk.source \
        == "docs/codes.txt"
    assert in_step(index)


def test_sync_compares_content_hashes_when_asked(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs", DOCS), tmp_path / "index"
    pipe(index).ingest(docs, progress=False)
    store = ChromaStore(index, create=False)
    lexical = SqliteLexicalIndex(index / "lexical-documents.sqlite3")
    lexical.upsert([chunk("docs/bees.txt#c0", "stale text", "docs/bees.txt")])  # same id, other text
    assert sync_lexical(lexical, store, progress=False, compare_text=False) == (0, 0)
    assert sync_lexical(lexical, store, progress=False, compare_text=True) == (1, 0)
    assert in_step(index)


def test_a_long_lived_reader_sees_another_writers_ingest(tmp_path: Path) -> None:
    docs, index = write_docs(tmp_path / "docs", DOCS), tmp_path / "index"
    pipe(index).ingest(docs, progress=False)
    # A reader on another machine (a Chroma server's client) has its own lexical index file.
    reader = pipe(index, **{"retrieval.mode": "lexical",
                            "retrieval.lexical_path": str(tmp_path / "elsewhere.sqlite3")}).retriever()
    assert reader.retrieve("lemurs madagascar", 3).hits == ()
    write_docs(docs, {"lemurs.txt": "Lemurs live on Madagascar and eat fruit."})
    pipe(index).ingest(docs, progress=False)  # another process writes; the reader keeps its objects
    assert reader.retrieve("lemurs madagascar", 3).hits[0].chunk.source == "docs/lemurs.txt"
    (docs / "lemurs.txt").unlink()
    pipe(index).ingest(docs, progress=False)
    assert reader.retrieve("lemurs madagascar", 3).hits == ()

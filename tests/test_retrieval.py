"""The multi-route retriever: modes, filters on both routes, MMR, config and CLI options."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_pdf, write_docs

from rag import Pipeline
from rag.errors import ConfigError, InputError
from rag.fakes import ExtractiveGenerator, HashEmbedder
from rag.retrieval.filters import ChunkFilter, parse_filter, parse_pages
from rag.store import ChromaStore
from rag.types import ResolvedFilter

GUIDE = """# Guide

Intro text about gardening tools and soil.

## Setup

Install the watering robot and connect the soil sensor to the garden hub.

## Usage

Water the tomatoes every morning; the soil sensor reports moisture to the hub.

# Appendix

Soil moisture tables for tomatoes and beans.
"""
PAGES = ["Page one covers soil types for tomatoes.", "Page two explains watering schedules for soil.",
         "Page three lists soil sensor errors.", "Page four: tomato pests and soil."]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("filters")
    docs = write_docs(root / "docs", {"guide.md": GUIDE})
    (docs / "notes").mkdir()
    (docs / "notes" / "soil.txt").write_text("Soil needs water; tomatoes like loose soil.", encoding="utf-8")
    (docs / "notes" / "beans.txt").write_text("Beans fix nitrogen in the soil.", encoding="utf-8")
    make_pdf(docs / "manual.pdf", PAGES)
    Pipeline(index=root / "index", embedder=HashEmbedder(), **{"chunking.chunk_size_tokens": 24,
             "chunking.chunk_overlap_tokens": 4}).ingest(docs, progress=False)
    return root / "index"


def retriever(index: Path, mode: str, **options: object):  # noqa: ANN201
    return Pipeline(index=index, embedder=HashEmbedder(), **{"retrieval.mode": mode, **options}).retriever()


FILTERS = [ChunkFilter(source="notes/*"), ChunkFilter(source="*.pdf", page_min=2, page_max=3),
           ChunkFilter(section="Guide"), ChunkFilter(section="*Usage"), ChunkFilter(page_min=4),
           ChunkFilter(source="guide.md", section="Appendix")]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
@pytest.mark.parametrize("chunk_filter", FILTERS, ids=str)
def test_filters_return_only_matching_chunks_on_every_route(index: Path, mode: str,
                                                            chunk_filter: ChunkFilter) -> None:
    r = retriever(index, mode)
    resolved = r.resolve(chunk_filter)
    everything = list(ChromaStore(index, create=False).all_chunks())
    allowed = {c.id for c in everything if resolved.matches(c.source, c.page, c.section)}
    assert allowed and len(allowed) < len(everything)
    hits = r.retrieve("soil tomatoes sensor watering", 50, chunk_filter).hits
    assert hits and {h.chunk.id for h in hits} <= allowed
    if mode != "lexical":  # the dense route ranks every allowed chunk
        assert {h.chunk.id for h in hits} == allowed


def test_filter_semantics(index: Path) -> None:
    r = retriever(index, "hybrid")
    guide = r.resolve(ChunkFilter(section="Guide"))
    assert set(guide.sections) == {"Guide", "Guide > Setup", "Guide > Usage"}
    assert r.resolve(ChunkFilter(source="notes/*")).sources == ("docs/notes/beans.txt", "docs/notes/soil.txt")
    pages = {h.chunk.page for h in r.retrieve("soil", 20, ChunkFilter(page_min=2, page_max=3)).hits}
    assert pages == {2, 3}
    with pytest.raises(InputError, match="matches no indexed source.*docs/guide.md"):
        r.retrieve("soil", 4, ChunkFilter(source="other/*.md"))
    with pytest.raises(InputError, match="section filter 'Nope' matches no section"):
        r.retrieve("soil", 4, ChunkFilter(section="Nope"))


def test_filter_parsing_errors_name_what_was_wrong() -> None:
    assert parse_pages("3-7") == (3, 7) and parse_pages("5") == (5, 5) and parse_pages("-2") == (None, 2)
    assert parse_filter({"source": None, "pages": None}) is None
    with pytest.raises(InputError, match="pages must look like"):
        parse_filter({"pages": "three"})
    with pytest.raises(InputError, match="page range 7-3 is empty"):
        parse_filter({"pages": "7-3"})
    with pytest.raises(InputError, match="unknown filter key.*author"):
        parse_filter({"author": "me"})
    with pytest.raises(InputError, match="page_min must be a page number"):
        ChunkFilter(page_min=0)


def test_ask_with_a_filter_answers_from_matching_chunks_only(index: Path) -> None:
    p = Pipeline(engine="generator", index=index, embedder=HashEmbedder(), generator=ExtractiveGenerator(), mode="free")
    answer = p.ask("What do beans fix in the soil?", filter={"source": "notes/*"})
    assert answer.sources and {s.source for s in answer.sources} <= {"docs/notes/beans.txt", "docs/notes/soil.txt"}
    assert "nitrogen" in answer.text
    nothing = p.ask("soil?", filter={"source": "guide.md", "pages": "1-2"})
    assert nothing.refused and nothing.reason == "no match"


def test_langchain_retriever_takes_a_filter_per_call(index: Path) -> None:
    lc = Pipeline(index=index, embedder=HashEmbedder(), k=10).as_retriever(filter={"source": "*.pdf"})
    assert {d.metadata["source"] for d in lc.invoke("soil")} == {"docs/manual.pdf"}
    docs = lc.invoke("soil", filter={"source": "notes/soil.txt"})
    assert [d.metadata["source"] for d in docs] == ["docs/notes/soil.txt"]


def test_hybrid_scores_are_cosine_and_lexical_scores_bm25(index: Path) -> None:
    dense = retriever(index, "dense").retrieve("soil sensor", 4).hits
    hybrid = retriever(index, "hybrid").retrieve("soil sensor", 4).hits
    lexical = retriever(index, "lexical").retrieve("soil sensor", 4).hits
    assert all(-1.0 <= h.score <= 1.0 for h in dense + hybrid)
    by_id = {h.chunk.id: h.score for h in dense}
    for h in hybrid:
        if h.chunk.id in by_id:
            assert h.score == pytest.approx(by_id[h.chunk.id], abs=1e-5)
    assert lexical and all(h.score > 0 for h in lexical)


def test_in_hybrid_mode_the_lexical_route_runs_while_the_question_is_embedded(index: Path) -> None:
    import threading

    hybrid = retriever(index, "hybrid")
    both_running = threading.Barrier(2, timeout=10)  # passes only if the two run at once
    route = next(r for spec, r in hybrid.routes if spec.name == "lexical")
    search, embed = route.index.search, hybrid.embedder.embed_query

    def lexical(*args, **kwargs):  # noqa: ANN202
        both_running.wait()
        return search(*args, **kwargs)

    def embedding(text: str):  # noqa: ANN202
        both_running.wait()
        return embed(text)

    route.index = type("Spy", (), {"search": staticmethod(lexical)})()
    hybrid.embedder = type("Spy", (), {"embed_query": staticmethod(embedding)})()
    assert [h.chunk.id for h in hybrid.retrieve("soil sensor", 4).hits] == \
        [h.chunk.id for h in retriever(index, "hybrid").retrieve("soil sensor", 4).hits]


def test_mmr_returns_k_distinct_hits_and_lambda_one_keeps_the_ranking(index: Path) -> None:
    plain = retriever(index, "dense").retrieve("soil tomatoes", 4).hits
    same = retriever(index, "dense", mmr=1.0).retrieve("soil tomatoes", 4).hits
    assert [h.score for h in same] == pytest.approx([h.score for h in plain])  # ties may swap ids
    diverse = retriever(index, "hybrid", mmr=0.3).retrieve("soil tomatoes", 4).hits
    assert len({h.chunk.id for h in diverse}) == 4


def test_retrieval_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="retrieval.mode = 'bm25' is invalid"):
        Pipeline(**{"retrieval.mode": "bm25"})
    with pytest.raises(ConfigError, match="retrieval.mmr = 1.5 is invalid"):
        Pipeline(mmr=1.5)
    with pytest.raises(ConfigError, match="answer.votes = 0 is invalid"):
        Pipeline(votes=0)
    with pytest.warns(UserWarning, match="min_score .* ignored"):
        lexical = Pipeline(retrieval="lexical", min_score=0.5)
    assert lexical.chain(closed_book=True).settings.min_score is None  # a BM25 score is not compared with a cosine


def test_dense_search_on_an_empty_store_and_past_the_collections_size(tmp_path: Path) -> None:
    from rag.types import Chunk

    embedder, store = HashEmbedder(), ChromaStore(tmp_path / "index")
    question = embedder.embed_query("soil")
    assert store.query(question, 4) == []
    chunks = [Chunk(f"c{i}", f"soil text {i}", "a.txt", None, i, f"h{i}") for i in range(3)]
    store.upsert(chunks, embedder.embed_documents([c.text for c in chunks]))
    assert sorted(h.chunk.id for h in store.query(question, 10)) == ["c0", "c1", "c2"]
    assert store.query(question, 10, ResolvedFilter(("b.txt",), None, None, None)) == []

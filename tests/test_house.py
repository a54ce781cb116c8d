"""The seams of the house: a third retrieval route is one class plus its registration, and the
defaults a component gets from code are the configuration's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import local_client, write_docs

from rag import Pipeline
from rag.chain import ChainSettings
from rag.cli import build_parser
from rag.config import RagConfig, RetrievalConfig, load_config
from rag.errors import ConfigError
from rag.fakes import HashEmbedder, OverlapReader
from rag.retrieval import MultiRouteRetriever, Query, RouteParts, RouteSpec, register_mode, register_route
from rag.retrieval.lexical.base import LexicalIndex
from rag.retrieval.registry import retrieval_modes, unregister
from rag.serve.app import create_app
from rag.types import Hit, ResolvedFilter

DOCS = {"bees.md": "Bees make honey from nectar. Honey keeps for years.",
        "owls.md": "Owls hunt at night. Owls eat mice.",
        "soil.md": "Soil holds water. Worms loosen the soil for roots."}


class ReversedLexicalRoute:
    """The test-only third route: BM25's candidates, worst first (so its hits are told apart)."""

    def __init__(self, index: LexicalIndex) -> None:
        self.index = index

    def search(self, query: Query, k: int, where: ResolvedFilter | None) -> list[Hit]:
        return list(reversed(self.index.search(query.text, k, where)))


@pytest.fixture
def reversed_route() -> Iterator[str]:
    def build(parts: RouteParts) -> ReversedLexicalRoute:
        assert parts.lexical is not None
        return ReversedLexicalRoute(parts.lexical)

    register_route(RouteSpec("reversed", build, weight=0.5))  # the registration
    try:
        yield "reversed"
    finally:
        unregister("reversed")


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    p = Pipeline(index=tmp_path / "index", embedder=HashEmbedder(), reader=OverlapReader())
    p.ingest(write_docs(tmp_path / "docs", DOCS), progress=False)
    return p


def test_a_registered_route_is_a_mode_of_the_config_the_cli_and_the_server(reversed_route: str,
                                                                             pipeline: Pipeline) -> None:
    # The configuration accepts it (and still refuses what is not registered).
    assert reversed_route in retrieval_modes()
    assert load_config(overrides={"retrieval.mode": reversed_route}).retrieval.mode == reversed_route
    with pytest.raises(ConfigError, match="'reversed'"):
        RetrievalConfig(mode="nowhere")
    # The CLI offers it.
    args = build_parser().parse_args(["ask", "Who makes honey?", "--retrieval", reversed_route])
    assert args.retrieval == reversed_route
    # The server's schema lists it, and a request naming it is answered through it.
    client = local_client(create_app(pipeline, docs=True))
    schema = client.get("/openapi.json").json()["components"]["schemas"]["AskRequest"]
    assert reversed_route in schema["properties"]["retrieval"]["anyOf"][0]["enum"]
    assert client.post("/ask", json={"question": "x", "retrieval": "nowhere"}).status_code == 422
    lexical = [s["chunk_id"] for s in client.post("/ask", json={"question": "Soil, honey or owls?", "k": 3,
                                                                  "retrieval": "lexical"}).json()["sources"]]
    turned = [s["chunk_id"] for s in client.post("/ask", json={"question": "Soil, honey or owls?", "k": 3,
                                                                 "retrieval": reversed_route}).json()["sources"]]
    assert len(lexical) > 1 and turned == list(reversed(lexical))
    assert reversed_route in client.get("/info").json()["ask"]["retrieval_modes"]


def test_a_registered_route_fuses_with_the_others_by_its_weight(reversed_route: str, pipeline: Pipeline) -> None:
    register_mode("lexical+reversed", ("lexical", reversed_route))
    try:
        fused = pipeline.variant(retrieval="lexical+reversed").retriever()
        assert [spec.name for spec, _ in fused.routes] == ["lexical", reversed_route]
        assert fused.settings.weight(reversed_route) == 0.5 and fused.settings.weight("lexical") == 1.0
        hits = fused.retrieve("Who makes honey?", 3).hits
        # Rescored by cosine, as every fusion is; the lexical route outweighs the reversed one.
        assert hits and hits[0].chunk.text.startswith("Bees make honey")
    finally:
        unregister("lexical+reversed")
    assert "lexical+reversed" not in retrieval_modes()
    with pytest.raises(ConfigError, match="registered routes"):
        register_mode("half", ("lexical", "nowhere"))


def test_code_built_settings_are_the_configurations(pipeline: Pipeline) -> None:
    assert RagConfig().retrieval == RetrievalConfig()
    assert pipeline.retriever().settings == RetrievalConfig()
    built = MultiRouteRetriever(HashEmbedder(), pipeline.store(), pipeline.lexical_index())
    assert built.settings == pipeline.retriever().settings and built.settings.mode == "hybrid"
    chain = pipeline.chain()
    assert chain.settings.refusal_threshold is not None  # the reader card's, resolved by the wiring
    assert replace(chain.settings, refusal_threshold=None) == ChainSettings()
    assert ChainSettings().mode == "extractive" and ChainSettings().min_support == 0.3

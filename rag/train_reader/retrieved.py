"""Examples from the pipeline's own retrieval: the training articles ingested with the real
chunker and embedder into `work/index`, each question asked through the configured retriever
(hybrid, k), and every retrieved chunk read as an example (see examples.retrieved_examples)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.config import RagConfig
from rag.datasets import EvalSet
from rag.train_reader.examples import ReadingExample, SquadQuestion, retrieved_examples


def index_articles(config: RagConfig, articles: Sequence[dict[str, Any]], work: Path, progress: bool) -> Any:
    """A Pipeline over these articles only (Markdown files in `work/docs`, index `work/index`)."""
    from rag.pipeline import Pipeline

    docs = EvalSet((), tuple(articles)).write_documents(work / "docs")
    pipeline = Pipeline(index=work / "index", config=config)
    pipeline.ingest(docs, progress=progress)
    return pipeline


def retrieve_chunks(config: RagConfig, articles: Sequence[dict[str, Any]], questions: Sequence[SquadQuestion],
                    work: Path, progress: bool) -> list[ReadingExample]:
    """Every question against each chunk the retriever returns for it."""
    retriever = index_articles(config, articles, work, progress).retriever()
    out: list[ReadingExample] = []
    for q in tqdm(questions, desc="retrieve", unit="q", disable=not progress):
        hits = retriever.retrieve(q.question, config.retrieval.k).hits
        out += retrieved_examples(q, [h.chunk.text for h in hits])
    return out

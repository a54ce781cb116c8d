"""Asking from 8 threads (through Pipeline and through the served app) while an ingest runs:
no errors, the same answers; a second writer fails clearly instead of interleaving."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import local_client, write_docs

from rag import Pipeline
from rag.errors import IngestLockedError
from rag.fakes import ExtractiveGenerator, HashEmbedder
from rag.serve import create_app

DOCS = {"bees.txt": "Bees collect nectar from flowers and turn it into honey inside the hive.",
        "owls.md": "# Owls\n\nOwls hunt mice at night using silent feathers and sharp hearing."}
MORE = {f"extra{i}.txt": f"Extra note {i} about gardens, soil and watering schedules. " * 20 for i in range(12)}
QUESTION = "What do bees turn nectar into inside the hive?"


class SlowEmbedder(HashEmbedder):
    """Embeds documents slowly, so an ingest is still running while the questions come."""

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        time.sleep(0.2 * len(texts))  # 12 files: ~2.4 s, longer than 40 asks on a busy machine
        return super().embed_documents(texts, progress)


def pipe(index: Path, embedder: HashEmbedder | None = None) -> Pipeline:
    return Pipeline(engine="generator", index=index, embedder=embedder or HashEmbedder(), generator=ExtractiveGenerator(),
                    mode="free", min_support=None, k=2)


def hammer(ask: Callable[[], str], threads: int = 8, rounds: int = 5) -> tuple[list[str], list[BaseException]]:
    answers: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        for _ in range(rounds):
            try:
                answers.append(ask())
            except BaseException as exc:  # noqa: BLE001 - collected and asserted empty
                errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return answers, errors


@pytest.fixture
def index(tmp_path: Path) -> Path:
    pipe(tmp_path / "index").ingest(write_docs(tmp_path / "docs", DOCS), progress=False)
    write_docs(tmp_path / "docs", MORE)
    return tmp_path / "index"


def run_ingest(index: Path, folder: Path, outcome: dict[str, object]) -> threading.Thread:
    def work() -> None:
        try:
            outcome["report"] = pipe(index, SlowEmbedder()).ingest(folder, progress=False)
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_eight_threads_ask_through_pipeline_while_an_ingest_runs(index: Path) -> None:
    outcome: dict[str, object] = {}
    writer = run_ingest(index, index.parent / "docs", outcome)
    time.sleep(0.2)
    shared = pipe(index)
    answers, errors = hammer(lambda: shared.ask(QUESTION).text)
    with pytest.raises(IngestLockedError, match="another ingest is writing"):
        pipe(index).ingest(index.parent / "docs", progress=False)  # a second writer, meanwhile
    running_during = writer.is_alive()
    writer.join()
    assert errors == [] and len(answers) == 40 and len(set(answers)) == 1 and "honey" in answers[0]
    assert running_during and "error" not in outcome and outcome["report"].files_added == 12  # type: ignore[union-attr]


def test_eight_threads_ask_through_the_server_while_it_ingests(index: Path) -> None:
    pipeline = pipe(index, SlowEmbedder())
    client = local_client(create_app(pipeline, ingest_roots=[index.parent]))
    result: dict[str, int] = {}
    writer = threading.Thread(target=lambda: result.update(
        status=client.post("/ingest", json={"folder": str(index.parent / "docs")}).status_code))
    writer.start()
    answers, errors = hammer(lambda: client.post("/ask", json={"question": QUESTION}).json()["answer"])
    writer.join()
    assert errors == [] and len(answers) == 40 and len(set(answers)) == 1 and "honey" in answers[0]
    assert result["status"] == 200 and client.get("/info").json()["files"] == 14


def test_a_loader_thread_and_the_chain_load_the_generator_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`rag ask` loads the generator on a thread while it searches; the chain then waits for
    that load instead of starting a second one."""
    import rag.generator.onnx_lm

    built: list[int] = []

    def slow_generator(*args: object, **kwargs: object) -> ExtractiveGenerator:
        built.append(1)
        time.sleep(0.3)
        return ExtractiveGenerator()

    monkeypatch.setattr(rag.generator.onnx_lm, "OnnxGenerator", slow_generator)  # the default backend
    p = Pipeline(index=tmp_path / "index", embedder=HashEmbedder())
    loaders = [threading.Thread(target=p.generator) for _ in range(3)]
    for loader in loaders:
        loader.start()
    first = p.generator()
    for loader in loaders:
        loader.join()
    assert built == [1] and p.generator() is first

"""The Answerer seam on fakes: the reader engine (verbatim spans, the no-answer threshold, the
engine in the answer), the generator engine behind the same chain, and bad input to the reader
and its training (clear errors, exit code 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import local_client, write_docs

from rag import Pipeline
from rag.answer.reader.folder import ReaderLoadError, encoder_folder
from rag.cli import main
from rag.fakes import ExtractiveGenerator, HashEmbedder, OverlapReader
from rag.types import Answer

DOCS = {
    "owls.md": "# Owls\n\nOwls hunt mice at night. Their silent feathers and sharp hearing help them.",
    "bees.txt": "Bees collect nectar from flowers. They turn nectar into honey inside the hive.",
}


@pytest.fixture
def index(tmp_path: Path) -> Path:
    Pipeline(index=tmp_path / "index", embedder=HashEmbedder()).ingest(write_docs(tmp_path / "docs", DOCS),
                                                                       progress=False)
    return tmp_path / "index"


def reading(index: Path, reader: OverlapReader | None = None, **options: object) -> Pipeline:
    return Pipeline(index=index, embedder=HashEmbedder(), reader=reader or OverlapReader(), k=2, **options)


def test_the_reader_engine_answers_with_a_verbatim_span_of_a_retrieved_chunk(index: Path) -> None:
    p = reading(index)
    assert p.config.answer.engine == "reader"  # the default engine
    answer = p.ask("What do bees turn nectar into inside the hive?")
    assert not answer.refused and answer.engine == "reader" and answer.span is not None
    chunk = p.store().chunks_by_id([answer.span.chunk_id])[0]
    assert chunk.text[answer.span.start:answer.span.end] == answer.text
    assert "honey" in answer.text and answer.cited == (answer.span.block,)
    assert answer.margin is not None and answer.support is None  # a verbatim span is not re-checked
    assert answer.to_dict()["engine"] == "reader" and Answer.from_dict(answer.to_dict()).engine == "reader"


def test_a_gap_under_the_threshold_is_refused_with_the_span_kept_as_draft(index: Path) -> None:
    p = reading(index, OverlapReader(threshold=10.0))  # the card's threshold
    answer = p.ask("What do bees turn nectar into inside the hive?")
    assert answer.refused and answer.reason == "no_answer" and answer.text == "I don't know."
    assert "honey" in answer.draft and answer.margin is not None and answer.margin < 10.0
    override = reading(index, OverlapReader(threshold=10.0), refusal_threshold=0.0)
    assert not override.ask("What do bees turn nectar into inside the hive?").refused


def test_streaming_the_reader_gives_the_whole_answer_once(index: Path) -> None:
    stream = reading(index).stream("Where do owls hunt mice?")
    pieces = list(stream)
    assert stream.answer is not None and pieces == [stream.answer.text]
    refused = reading(index, OverlapReader(threshold=50.0)).stream("Where do owls hunt mice?")
    assert list(refused) == ["I don't know."]  # no draft shown, then withdrawn


def test_the_generator_engine_is_one_option_away_through_the_same_seam(index: Path) -> None:
    generator = ExtractiveGenerator()
    p = Pipeline(index=index, embedder=HashEmbedder(), generator=generator, reader=OverlapReader(), k=2,
                 engine="generator", mode="free", min_support=None)
    answer = p.ask("What do bees turn nectar into inside the hive?")
    assert answer.engine == "generator" and "honey" in answer.text and generator.calls == 1
    assert reading(index).variant(engine="generator").config.answer.engine == "generator"


def test_gold_paragraph_reading_skips_retrieval(index: Path) -> None:
    from rag.types import Chunk, Hit

    chain = reading(index).chain()
    hit = Hit(Chunk("x#gold", "Ada Lovelace wrote the first program in 1843.", "x", None, 0, ""), 1.0)
    answer = chain.ask_passages("When did Lovelace write the first program?", (hit,))
    assert answer.span is not None and answer.span.chunk_id == "x#gold" and "1843" in answer.text


def test_a_missing_reader_folder_is_a_clear_error_with_exit_code_2(index: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ReaderLoadError, match="neither a folder nor a packaged reader"):
        Pipeline(index=index, embedder=HashEmbedder(), reader=None, **{"answer.reader": str(tmp_path / "nope")}).chain()
    code = main(["ask", "Where do owls hunt?", "--index", str(index), "--reader", str(tmp_path / "nope")])
    assert code == 2 and "nope" in capsys.readouterr().err


def test_a_reader_for_another_tokenizer_is_refused(index: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "reader"
    folder.mkdir()
    shutil.copyfile(encoder_folder(None) / "tokenizer.json", folder / "tokenizer.json")
    (folder / "config.json").write_text(json.dumps({"vocab_size": 50265, "model_type": "roberta"}))
    (folder / "model.safetensors").write_bytes(b"")
    from rag.answer.reader.reader import SpanReader

    with pytest.raises(ReaderLoadError, match="another tokenizer"):
        SpanReader(folder)
    assert main(["ask", "Where do owls hunt?", "--index", str(index), "--reader", str(folder)]) == 2
    assert "another tokenizer" in capsys.readouterr().err
    (folder / "model.safetensors").unlink()
    with pytest.raises(ReaderLoadError, match="lacks model.safetensors"):
        SpanReader(folder)


@pytest.mark.parametrize("content", ['{"version": "v2.0", "data": []}',
                                     '{"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": []}]}]}',
                                     "not json"])
def test_train_reader_on_an_empty_or_broken_squad_file_exits_2(tmp_path: Path, content: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "empty.json"
    data.write_text(content)
    code = main(["train-reader", "--data", str(data), "--out", str(tmp_path / "r"), "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and "empty.json" in err
    assert not (tmp_path / "r" / "model.safetensors").exists()
    assert not (tmp_path / "w").exists()  # bad data: no work folder either


def test_train_reader_rejects_impossible_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.json"
    data.write_text('{"data": []}')
    assert main(["train-reader", "--data", str(data), "--out", str(tmp_path / "r"), "--stride", "999"]) == 2
    assert "stride" in capsys.readouterr().err
    assert main(["train-reader", "--data", str(data), "--out", str(tmp_path / "r"), "--calibration-articles",
                 "Nowhere"]) == 2


def test_reader_support_of_a_generated_answer_by_hand() -> None:
    from rag.eval.reader_check import reader_support

    # Shared words: bees, make -> gap 0, confidence 0.5; F1("honey", "Bees make honey.") = 0.5.
    assert reader_support(OverlapReader(0.0), "What do bees make?", "honey", ["Bees make honey."]) == 0.25
    assert reader_support(OverlapReader(0.0), "What do bees make?", "honey", []) is None


def test_eval_scores_generated_answers_with_the_reader_when_asked(tmp_path: Path) -> None:
    from conftest import FIXTURES

    from rag.eval.harness import EvalRun, Harness

    run = EvalRun(data=FIXTURES / "tiny_squad.json", out=tmp_path / "out", progress=False, limit=8, seed=1,
                  options={"engine": "generator"}, reader_check=True)  # type: ignore[arg-type]
    report = Harness(run, embedder=HashEmbedder(), generator_factory=lambda config: ExtractiveGenerator(),
                     reader=OverlapReader()).execute()
    rows = [json.loads(line) for line in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    answered = [r for r in rows if not r["refused"]]
    assert answered and all(0.0 <= r["scores"]["reader_support"] <= 1.0 for r in answered)
    assert "reader_detector_auc" in report["variants"]["default"]["hallucination"]
    assert report["variants"]["default"]["engine"] == "generator"


def test_post_ask_takes_the_engine_per_question(index: Path) -> None:
    from rag.serve.app import create_app

    p = Pipeline(index=index, embedder=HashEmbedder(), generator=ExtractiveGenerator(), reader=OverlapReader(),
                 k=2, mode="free", min_support=None)
    client = local_client(create_app(p))
    question = {"question": "What do bees turn nectar into inside the hive?"}
    assert client.post("/ask", json=question).json()["engine"] == "reader"
    generated = client.post("/ask", json={**question, "engine": "generator"}).json()
    assert generated["engine"] == "generator" and "honey" in generated["answer"]
    assert client.post("/ask", json={**question, "engine": "oracle"}).status_code == 422
    options = client.get("/info").json()["ask"]
    assert options["engine"] == "reader" and options["engines"] == ["reader", "generator"]

"""Scanned pages by OCR: a PDF page without a text layer and an image are read by Tesseract and
their chunks marked `ocr`; a page past its time limit is left out, not waited on; without OCR
installed (faked), each is reported with what to install, exit 1, and the index is as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import HashEmbedder, write_docs
from formats_helpers import scanned_image, write_scanned_pdf

from rag.cli import main
from rag.ingest import ocr
from rag.ingest.loaders import load_file

needs_tesseract = pytest.mark.skipif(not ocr.available(), reason="OCR not installed: apt-get install "
                                     "tesseract-ocr tesseract-ocr-eng; pip install localrag[ocr]")


@needs_tesseract
def test_a_scanned_pdf_page_and_an_image_are_read_by_ocr_and_marked(tmp_path: Path) -> None:
    [page] = load_file(write_scanned_pdf(tmp_path / "scan.pdf"))
    assert (page.page, page.ocr, page.kind) == (1, True, "pdf") and "archive vault" in page.text
    assert "14 degrees" in page.text
    scanned_image().save(tmp_path / "scan.png")
    [image] = load_file(tmp_path / "scan.png")
    assert image.ocr and image.page is None and "archive vault" in image.text
    frames = [scanned_image("First frame says alpha."), scanned_image("Second frame says omega.")]
    frames[0].save(tmp_path / "two.tiff", save_all=True, append_images=frames[1:])
    assert [(p.page, "omega" in p.text) for p in load_file(tmp_path / "two.tiff")] == [(1, False), (2, True)]
    from PIL import Image

    Image.new("RGB", (640, 480), (40, 120, 200)).save(tmp_path / "sky.jpg")  # a photo: nothing to index, no error
    assert load_file(tmp_path / "sky.jpg") == []


@needs_tesseract
def test_ocr_chunks_are_stored_marked_and_cited_as_ocr(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"notes.txt": "The canteen opens at noon."})
    write_scanned_pdf(docs / "scan.pdf")
    index = tmp_path / "index"
    from rag import Pipeline

    pipeline = Pipeline(index=index, embedder=HashEmbedder())
    assert not pipeline.ingest(docs, progress=False).files_failed
    hit = next(h for h in pipeline.retriever().retrieve("archive vault temperature", 2).hits
               if h.chunk.source.endswith("scan.pdf"))
    assert hit.chunk.ocr and hit.chunk.page == 1
    source = pipeline.chain().sources_of((hit,))[0]
    assert source.ocr and source.to_dict()["ocr"] is True
    from rag.cli.ask import cite

    assert cite(source).endswith("scan.pdf, page 1 (OCR)")


def test_a_page_past_its_time_limit_is_left_out_not_waited_on(caplog: pytest.LogCaptureFixture) -> None:
    if not ocr.available():
        pytest.skip("OCR not installed")
    assert ocr.read_page(scanned_image(), timeout=0.01) == ""
    assert "OCR of a page failed" in caplog.text


@pytest.mark.integration  # the CLI's ingest embeds with the real MiniLM
def test_without_ocr_scans_are_reported_with_the_install_hint_and_nothing_else_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("rag.ingest.ocr.available", lambda: False)
    docs = write_docs(tmp_path / "docs", {"notes.txt": "The canteen opens at noon."})
    index = tmp_path / "index"
    assert main(["ingest", str(docs), "--index", str(index), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    write_scanned_pdf(docs / "scan.pdf")
    scanned_image().save(docs / "scan.png")
    assert main(["ingest", str(docs), "--index", str(index), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = {f["path"].rsplit("/", 1)[-1]: f["error"] for f in report["files_failed"]}
    assert set(failed) == {"scan.pdf", "scan.png"} and all(ocr.HINT in e for e in failed.values())
    assert report["files_unchanged"] == 1 and report["chunks_upserted"] == 0 == report["chunks_deleted"]
    assert main(["info", "--index", str(index), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["files"] == 1 and info["chunks"] == before["chunks_upserted"]

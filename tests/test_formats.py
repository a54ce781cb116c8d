"""The loaders of a user's real folder: Word, PowerPoint, Excel, CSV/TSV, EPUB and e-mail, each
on files the tests write with the same libraries; their bad files (corrupt, encrypted, zip
bombs) reported; and the registry, to which a user's own format is one registration."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_docs
from formats_helpers import write_docx, write_eml, write_epub, write_pptx, write_xlsx, zip_of

from rag.errors import LoadError
from rag.ingest.loaders import Loader, load_bytes, load_file, loader_for, register_loader
from rag.ingest.loaders.archive import OLE
from rag.types import Page


def test_docx_headings_become_sections_and_tables_header_value_rows(tmp_path: Path) -> None:
    [page] = load_file(write_docx(tmp_path / "report.docx"))
    assert (page.kind, page.title, page.headings, page.page) == ("docx", "Annual report", True, None)
    assert page.text.startswith("# Results\n\nThe Kestrel plant produced 4,180 turbines in 2025.")
    assert "Region: North; Manager: Ingrid Solberg" in page.text and "# Outlook" in page.text


def test_pptx_is_one_page_per_slide_with_its_title_and_notes(tmp_path: Path) -> None:
    pages = load_file(write_pptx(tmp_path / "deck.pptx"))
    assert [(p.page, p.section, p.kind) for p in pages] == [(1, "Welcome", "pptx"), (2, "Launch plan", "pptx")]
    assert "The Osprey rocket launches from Andøya in March." in pages[1].text
    assert "Notes: Mention the weather window." in pages[1].text and "Notes" not in pages[0].text
    assert "Quarter: Q1; Launches: 3" in pages[0].text  # a table on a slide, rows with their header


def test_xlsx_rows_carry_their_header_and_a_formula_its_cached_value(tmp_path: Path) -> None:
    pages = load_file(write_xlsx(tmp_path / "staff.xlsx"))
    assert [(p.section, p.kind) for p in pages] == [("Staff", "xlsx")]  # the empty sheet adds nothing
    lines = pages[0].text.splitlines()
    assert lines[0] == "Row 2: Name: Mirela Kovac; Role: Chief chemist; Desk: 17"
    assert lines[2] == "Row 4: Desk: 20"  # =C2+C3 as Excel last computed it, never evaluated here


def test_a_long_sheet_streams_into_pages_of_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rag.ingest.loaders.sheets.ROWS_PER_PAGE", 100)
    rows = "id;city\n" + "".join(f"{n};Town {n}\n" for n in range(1, 251))
    pages = load_bytes(rows.encode(), "towns.csv")
    assert [len(p.text.splitlines()) for p in pages] == [100, 100, 50]
    assert pages[0].section == "towns" and pages[2].text.splitlines()[-1] == "Row 251: id: 250; city: Town 250"
    exact = "id;city\n" + "".join(f"{n};Town {n}\n" for n in range(1, 201))
    assert [len(p.text.splitlines()) for p in load_bytes(exact.encode(), "towns.csv")] == [100, 100]  # no header-only page
    assert load_bytes(b"id;city\n", "empty.csv")[0].text == "id; city"
    tsv = load_bytes(b"name\tage\nAda\t36\n", "people.tsv")
    assert tsv[0].text == "Row 2: name: Ada; age: 36"


def test_eml_keeps_headers_and_body_and_lists_attachments_unread(tmp_path: Path) -> None:
    for html in (False, True):
        [page] = load_file(write_eml(tmp_path / f"mail{html}.eml", html))
        assert page.section == page.title == "Boiler inspection" and page.kind == "eml"
        assert "From: facilities@example.org" in page.text and "Date: Tue, 03 Mar 2026" in page.text
        assert "Attachments (not read): checklist.pdf" in page.text and "%PDF" not in page.text
        assert "The boiler inspection is on Thursday at 7 am in basement room B12." in page.text
        assert "<p>" not in page.text


def test_epub_chapters_follow_the_spine(tmp_path: Path) -> None:
    pages = load_file(write_epub(tmp_path / "book.epub"))
    assert [(p.page, p.title, p.headings) for p in pages] == [(1, "Coast tales", True), (2, "Coast tales", True)]
    assert pages[0].text.startswith("# The storm") and "Anselm Brek" in pages[1].text


@pytest.mark.parametrize("name", ["a.docx", "a.pptx", "a.xlsx", "a.epub"])
def test_corrupt_encrypted_and_bomb_archives_are_refused_by_name(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LoadError, match="corrupt"):
        load_bytes(b"PK\x03\x04 this is not really a zip", name)
    with pytest.raises(LoadError, match="encrypted or password-protected"):
        load_bytes(OLE + b"\x00" * 512, name)
    monkeypatch.setattr("rag.ingest.loaders.archive.MAX_EXPANDED", 1 << 20)  # 1 MiB, so the bomb stays small
    with pytest.raises(LoadError, match=r"refused: .* would expand to 2 MB \(a zip bomb\?\)"):
        load_bytes(zip_of({"word/document.xml": b"\x00" * 2_000_000}), name)


def test_a_drm_epub_and_a_non_mail_are_named(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="DRM-protected .epub"):
        load_file(write_epub(tmp_path / "drm.epub", encrypted=True))
    with pytest.raises(LoadError, match="not an e-mail"):
        load_bytes(b"just some words\n\nand more", "note.eml")


def test_a_users_own_format_is_one_registration(tmp_path: Path) -> None:
    from conftest import HashEmbedder

    from rag import Pipeline

    def load_toy(data: bytes, source: str, options: object) -> list[Page]:
        title, _, body = data.decode().partition("\n")
        return [Page(source, None, body, "toy", section=title)]

    register_loader(Loader("toy", (".toy",), load_toy, about="toy: first line -> section"))
    try:
        docs = write_docs(tmp_path / "docs", {"a.toy": "Harbour\nThe harbour master is Odd Rune.", "b.txt": "Other."})
        pipeline = Pipeline(index=tmp_path / "index", embedder=HashEmbedder())
        report = pipeline.ingest(docs, progress=False)
        assert report.files_seen == 2 and report.files_ignored == 0 and not report.files_failed
        hits = pipeline.retriever().retrieve("harbour master", 2).hits
        toy = next(h.chunk for h in hits if h.chunk.source.endswith("a.toy"))
        assert toy.section == "Harbour" and "Odd Rune" in toy.text
        assert pipeline.info()["formats"]["toy"] == [".toy"]  # rag info reads the registry
    finally:
        from rag.ingest.loaders import registry

        registry._BY_EXTENSION.pop(".toy")
    assert loader_for("x.toy") is None


def test_bad_files_of_the_new_kinds_are_reported_and_the_rest_ingests(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import HashEmbedder

    from rag import Pipeline

    monkeypatch.setattr("rag.ingest.loaders.archive.MAX_EXPANDED", 1 << 20)
    docs = write_docs(tmp_path / "docs", {"good.txt": "The pier is 300 metres long."})
    write_docx(docs / "report.docx")
    (docs / "corrupt.pptx").write_bytes(b"PK\x03\x04 broken")
    (docs / "locked.xlsx").write_bytes(OLE + b"\x00" * 512)
    (docs / "bomb.docx").write_bytes(zip_of({"word/document.xml": b"\x00" * 2_000_000}))
    (docs / "drm.epub").write_bytes(write_epub(tmp_path / "drm.epub", encrypted=True).read_bytes())
    report = Pipeline(index=tmp_path / "index", embedder=HashEmbedder()).ingest(docs, progress=False)
    failed = {f["path"].rsplit("/", 1)[-1]: f["error"] for f in report.files_failed}
    assert set(failed) == {"corrupt.pptx", "locked.xlsx", "bomb.docx", "drm.epub"}
    assert "corrupt .pptx" in failed["corrupt.pptx"] and "password-protected .xlsx" in failed["locked.xlsx"]
    assert "zip bomb" in failed["bomb.docx"] and "DRM" in failed["drm.epub"]
    assert report.files_added == 2 and report.exit_code == 1  # good.txt and report.docx are in

"""PDF text that keeps its words (rag.ingest.pdf): PDFium keeps a paragraph's words, a
hyphenated line end is joined while "apt-get" is not, a header repeated on 5 pages is dropped and
kept as the title, page numbers match; an index whose PDFs were read by another extractor
re-reads them once on the next ingest, and not again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import make_pdf, write_docs

from rag.errors import ConfigError
from rag.ingest.loaders import load_file
from rag.ingest.pdf.clean import clean_pages, join_hyphenated, normalize, running_lines

WORDS = ("Tardigrades survive extreme dehydration by entering a reversible state called "
         "cryptobiosis, in which their metabolism slows to one hundredth of a percent.")


def lined_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF whose pages hold these lines, each set on its own line (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_a_paragraph_comes_out_with_its_words(tmp_path: Path) -> None:
    pages = load_file(make_pdf(tmp_path / "p.pdf", [WORDS]), "p.pdf")
    words = re.findall(r"\w+", pages[0].text)
    assert words == re.findall(r"\w+", WORDS)
    assert not [w for w in words if len(w) >= 20]


def test_a_hyphenated_line_end_is_joined_and_apt_get_is_not(tmp_path: Path) -> None:
    lines = ["The configuration manage-", "ment of the system uses apt-get to install the", "pack-",
             "ages, then runs apt-", "get again and calls Jean-", "Paul."]
    text = load_file(lined_pdf(tmp_path / "h.pdf", [lines]), "h.pdf")[0].text
    assert "management" in text and "packages" in text
    assert text.count("apt-get") == 2 and "Jean-Paul" in text
    assert "manage-" not in text and "aptget" not in text


def test_the_hyphen_rules_on_plain_text() -> None:
    assert join_hyphenated("re-\nmarkable, self-\nservice", {"self-service"}) == "remarkable, self-service"
    assert join_hyphenated("COVID-\n19") == "COVID-19"
    assert normalize("e\ufb03cient \ufb01le\r\nnext") == "efficient file\nnext"


def test_a_header_repeated_on_five_pages_is_dropped_kept_as_the_title_and_page_numbers_match(tmp_path: Path) -> None:
    pages = [["Owl Survey Handbook", f"Page {n} holds the count of site {n * 7} owls.", "More field notes here.",
              f"{n}"] for n in range(1, 6)]
    loaded = load_file(lined_pdf(tmp_path / "m.pdf", pages), "m.pdf")
    assert [p.page for p in loaded] == [1, 2, 3, 4, 5]
    for n, page in enumerate(loaded, 1):
        assert "Owl Survey Handbook" not in page.text
        assert page.text.splitlines()[-1] != str(n)  # the page number at the foot is gone
        assert f"count of site {n * 7} owls" in page.text  # the body stays, numbers and all
        assert page.title == "Owl Survey Handbook"


def test_running_lines_need_three_pages_and_never_empty_a_page() -> None:
    two = clean_pages(["Header\nbody one\nmore", "Header\nbody two\nmore"])
    assert all(p.startswith("Header") for p in two[0])
    single = clean_pages([f"Page {n} mentions the okapi." for n in range(1, 8)])
    assert all("okapi" in p for p in single[0])  # a one-line page is never a header
    assert running_lines(["A Manual 3\nx\ny\nz"] * 4).title == "A Manual"


def test_pypdf_stays_selectable_and_an_unknown_extractor_is_refused(tmp_path: Path) -> None:
    from rag.config import load_config

    pdf = make_pdf(tmp_path / "p.pdf", [WORDS])
    assert "cryptobiosis" in load_file(pdf, "p.pdf", pdf_extractor="pypdf")[0].text
    with pytest.raises(ConfigError, match="pdf.extractor"):
        load_config(overrides={"pdf.extractor": "ocr"})


@pytest.mark.integration
def test_an_index_read_by_another_extractor_re_reads_its_pdfs_once(tmp_path: Path, minilm) -> None:
    from rag.pipeline import Pipeline

    docs = write_docs(tmp_path / "docs", {"notes.md": "# Notes\n\nThe okapi lives in the Ituri forest."})
    make_pdf(docs / "report.pdf", [WORDS, "A second page about lichens."])
    old = Pipeline(index=tmp_path / "index", embedder=minilm, **{"pdf.extractor": "pypdf"})
    assert old.ingest(docs, progress=False).files_added == 2
    assert old.info()["roots"][0]["pdf_extractors"][0].startswith("pypdf ")
    new = Pipeline(index=tmp_path / "index", embedder=minilm)
    report = new.ingest(docs, progress=False)
    assert (report.files_updated, report.files_unchanged) == (1, 1)  # the PDF only
    info = new.info()
    assert info["roots"][0]["pdf_extractors"][0].startswith("pdfium ")
    assert [s["extractor"][:6] for s in info["sources"]] == ["", "pdfium"]
    again = new.ingest(docs, progress=False)
    assert again.files_updated == 0 and again.files_unchanged == 2


def test_a_short_chapters_header_goes_by_its_page_number() -> None:
    # Printed numbers run 6 ahead of the page index (front matter); chapter 2 heads only 2 pages.
    pages = [f"Chapter 1: Long Chapter {n + 6}\nbody of page {n}\nmore text" for n in range(1, 5)]
    pages += [f"Chapter 2: Short One {n + 6}\nbody of page {n}\nmore text" for n in range(5, 7)]
    pages.append("Results 99\nA table row ends in 12\nlast line")  # 99 is not page 7's number (13)
    cleaned, _ = clean_pages(pages)
    assert all(not p.startswith("Chapter") for p in cleaned[:6])
    assert cleaned[4].startswith("body of page 5") and cleaned[6].startswith("Results 99")
    assert running_lines(pages).folio_offset == 6

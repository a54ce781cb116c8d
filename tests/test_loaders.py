"""Loaders: formats, encodings, bad files, discovery rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import make_pdf

from rag.errors import InputError, LoadError
from rag.ingest.loaders import decode_text, discover, html_to_text, load_file


def test_txt_and_md_load_as_one_page(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Hello there.\r\nSecond line.", encoding="utf-8")
    pages = load_file(tmp_path / "a.txt", "a.txt")
    assert [(p.source, p.page, p.kind) for p in pages] == [("a.txt", None, "txt")]
    assert pages[0].text == "Hello there.\nSecond line."


def test_html_keeps_visible_text_and_headings_only() -> None:
    markup = """<html><head><title>T</title><style>p{color:red}</style></head><body>
    <h1>Main</h1><p>Visible &amp; kept.</p><script>var hidden = 1;</script>
    <h2>Sub</h2><div>More<br>text</div></body></html>"""
    text = html_to_text(markup)
    assert "# Main" in text and "## Sub" in text and "Visible & kept." in text
    assert "hidden" not in text and "color" not in text


def test_latin1_text_is_decoded_not_dropped() -> None:
    raw = ("Les élèves français étudient à l'école où ça coûte très peu. " * 5).encode("latin-1")
    assert "élèves français" in decode_text(raw)


def test_utf16_with_bom_is_text_not_binary() -> None:
    assert decode_text("naïve café".encode("utf-16")) == "naïve café"


@pytest.mark.parametrize("content, reason", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
    (b"", "empty"),
    (b"  \n\t \n", "empty"),
])
def test_bad_text_files_raise_with_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_file(tmp_path / "bad.txt", "bad.txt")


def test_pdf_has_one_record_per_page_numbered_from_one(tmp_path: Path) -> None:
    make_pdf(tmp_path / "doc.pdf", ["First page about owls.", "Second page about bees.", "Third."])
    pages = load_file(tmp_path / "doc.pdf", "doc.pdf")
    assert [p.page for p in pages] == [1, 2, 3]
    assert "bees" in pages[1].text and pages[1].kind == "pdf"


def test_corrupt_and_encrypted_pdfs_raise(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage\n")
    with pytest.raises(LoadError, match="PDF"):
        load_file(tmp_path / "broken.pdf", "broken.pdf")
    make_pdf(tmp_path / "locked.pdf", ["secret"], password="pw")
    with pytest.raises(LoadError, match="encrypted"):
        load_file(tmp_path / "locked.pdf", "locked.pdf")


def test_permission_denied_is_a_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.txt").write_text("x")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(LoadError, match="permission denied"):
        load_file(tmp_path / "a.txt", "a.txt")


def test_discover_skips_hidden_counts_ignored_and_survives_symlink_loops(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# B")
    (tmp_path / "a.TXT").write_text("a")
    (tmp_path / ".hidden.txt").write_text("h")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.txt").write_text("c")
    (tmp_path / "image.bin").write_bytes(b"bin")
    (tmp_path / "notes.xyz").write_bytes(b"xyz")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    files, ignored = discover(tmp_path)
    assert [f.source for f in files] == ["a.TXT", "sub/b.md"]
    assert ignored == 2


def test_discover_follows_symlinked_folders(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("x")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "linked")
    assert [f.source for f in discover(root)[0]] == ["linked/x.txt"]


def test_discover_rejects_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        discover(tmp_path / "nope")


def test_discover_takes_one_document_as_a_root_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "manual.pdf").write_bytes(b"%PDF")
    (tmp_path / "photo.xyz").write_bytes(b"x")
    found, ignored = discover(tmp_path / "manual.pdf")
    assert [(f.path, f.source) for f in found] == [(tmp_path / "manual.pdf", "manual.pdf")] and ignored == 0
    with pytest.raises(InputError, match=r"'.*photo.xyz' is not a document of a known format \(.*\.md.*\.pdf.*\.txt.*\)"):
        discover(tmp_path / "photo.xyz")

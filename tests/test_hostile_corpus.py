"""One folder of hostile files, ingested by the real `rag ingest` command in its own process:
the run finishes, each bad file is reported with its reason, the good ones are searchable, and
peak memory is measured and bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, make_pdf

from rag.documents import relative_path, root_label
from rag.retrieval.lexical import SqliteLexicalIndex

pytestmark = pytest.mark.integration
GOOD = {"good one.txt": "quokka", "quote's \"name\".md": "# Q\n\naxolotl", "résumé-ünï.txt": "narwhal",
        "latin1.txt": "pangolin"}
# Generous: MiniLM and Chroma alone take ~1 GB; a copy of the ~7 MB one-line file per chunk would not fit.
RSS_LIMIT_MB = 4096


def hostile_folder(root: Path) -> Path:
    docs = root / "hostile"
    docs.mkdir()
    for name, word in GOOD.items():
        text = f"This good file mentions the {word} several times: {word}, {word}." if name != "latin1.txt" else ""
        if name == "latin1.txt":
            (docs / name).write_bytes("Café au lait for the pangolin: naïve façade, pangolin.".encode("latin-1"))
        else:
            (docs / name).write_text(text, encoding="utf-8")
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.4\n garbage that is no PDF at all")
    make_pdf(docs / "encrypted.pdf", ["secret"], password="pw")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 64)
    one_line = " ".join(f"w{i % 5000}" for i in range(1_200_000))  # ~7 MB without a newline
    (docs / "one line.txt").write_text(one_line, encoding="utf-8")
    make_pdf(docs / "many pages.pdf", [f"Page {i} mentions the okapi." for i in range(1500)])
    image_only = make_pdf(docs / "image only.pdf", [""])  # a page with no text layer
    assert image_only.is_file()
    deep = docs
    for level in range(30):
        deep = deep / f"level{level}"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("At the bottom lives the tardigrade.", encoding="utf-8")
    os.symlink(docs, docs / "level0" / "loop")
    unreadable = docs / "unreadable.txt"
    unreadable.write_text("locked away", encoding="utf-8")
    unreadable.chmod(0)
    return docs


# `rag ingest` in its own process, which then writes its own peak RSS (KiB) to a file. VmHWM is
# the peak of this process image alone; ru_maxrss would also carry the forked parent's peak
# (the pytest process, several GB once the models are loaded) across exec.
INGEST = """
import re, resource, sys
from pathlib import Path
from rag.cli import main
try:
    code = main(sys.argv[2:])
finally:
    status = Path("/proc/self/status")
    found = re.search(r"VmHWM:\\s+(\\d+) kB", status.read_text()) if status.exists() else None
    peak = found.group(1) if found else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    open(sys.argv[1], "w").write(str(peak))
sys.exit(code)
"""


def test_hostile_folder_finishes_reports_bad_files_and_keeps_good_ones(tmp_path: Path) -> None:
    docs, index, rss = hostile_folder(tmp_path), tmp_path / "index", tmp_path / "peak_rss"
    result = subprocess.run([sys.executable, "-c", INGEST, str(rss), "ingest", str(docs), "--index", str(index),
                             "--json"], capture_output=True, text=True, timeout=1800, cwd=ROOT)
    peak_mb = int(rss.read_text()) / 1024
    print(f"hostile corpus: peak RSS of the ingest process {peak_mb:.0f} MB")
    assert result.returncode == 1, result.stderr  # some files failed, the rest were ingested
    report = json.loads(result.stdout)
    failed = {relative_path(f["path"]): f["error"] for f in report["files_failed"]}
    assert set(failed) >= {"corrupt.pdf", "encrypted.pdf", "empty.txt", "binary.txt", "image only.pdf"}
    assert "encrypted" in failed["encrypted.pdf"] and all(failed.values())
    if os.geteuid() != 0:  # root reads anything
        assert "unreadable.txt" in failed
    lexical = SqliteLexicalIndex(index / "lexical-documents.sqlite3")
    for word in (*GOOD.values(), "tardigrade", "okapi", "w4242"):
        assert lexical.search(word, 1), f"{word} is not searchable"
    sources = {relative_path(s) for s in lexical.distinct("source")}
    assert {root_label(s) for s in lexical.distinct("source")} == {"hostile"}
    assert "/".join(f"level{i}" for i in range(30)) + "/bottom.txt" in sources
    assert {"good one.txt", "quote's \"name\".md", "résumé-ünï.txt", "one line.txt", "many pages.pdf"} <= sources
    assert peak_mb < RSS_LIMIT_MB

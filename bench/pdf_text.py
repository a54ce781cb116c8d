"""PDF text, before and after rag.ingest.pdf: per PDF, for pypdf as ingest read it before
(raw), pypdf with the new cleaning (pdf.extractor = "pypdf"), and PDFium with it (the default),
the pages with text, words per page, the share of words holding a run of 20+ letters (glued
words), the share of chunks holding a running header or footer, and seconds.

    .venv/bin/python bench/pdf_text.py FILE.pdf [FILE.pdf ...]

Running lines are found once per PDF on PDFium's text: lines at a page's edge that repeat,
numbers aside (rag.ingest.pdf.clean.running_lines), and lines at a page's edge that end or start
with that page's printed number; each is looked for in every variant's chunks (the default
chunker, MiniLM tokens);
page numbers alone are not counted (a lone number mid-page is a table cell or code).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rag.config import RagConfig
from rag.ingest.chunking import Chunker
from rag.ingest.pdf.clean import clean_pages, line_key, normalize, running_lines
from rag.ingest.pdf.extractors import pdfium_pages, pypdf_pages
from rag.types import Page

GLUED = re.compile(r"[^\W\d_]{20,}")


def chunker() -> Chunker:
    from tokenizers import Tokenizer

    from rag.answer.reader.folder import encoder_folder

    tokenizer = Tokenizer.from_file(str(encoder_folder(None) / "tokenizer.json"))
    tokenizer.no_truncation()
    config = RagConfig().chunking
    return Chunker(lambda text: len(tokenizer.encode(text).ids), 256, config.chunk_size_tokens,
                   config.chunk_overlap_tokens)


def variants() -> dict[str, Callable[[bytes], list[str]]]:
    return {"pypdf raw (before)": lambda data: [t.strip() for t in pypdf_pages(data)],
            "pypdf + cleaning": lambda data: clean_pages(pypdf_pages(data))[0],
            "pdfium + cleaning (default)": lambda data: clean_pages(pdfium_pages(data))[0]}


def measure(path: Path, split: Chunker) -> list[dict[str, object]]:
    data = path.read_bytes()
    raw = [normalize(t) for t in pdfium_pages(data)]
    running = running_lines(raw)
    # A page number alone is left out: a lone number line mid-page (a table, code) is content.
    keys = {k for k in running.top | running.bottom if re.search(r"[^\W\d_]", k)}
    if running.folio_offset is not None:  # headers carrying their page's printed number
        for index, text in enumerate(raw, 1):
            folio = str(index + running.folio_offset)
            lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
            keys |= {line_key(ln) for ln in lines[:2] + lines[-2:] if re.search(r"[^\W\d_]", ln)
                     and (re.split(r"\s+", ln)[-1] == folio or re.split(r"\s+", ln)[0] == folio)}
    rows = []
    for name, extract in variants().items():
        started = time.perf_counter()
        texts = extract(data)
        seconds = time.perf_counter() - started
        words = [w for t in texts for w in t.split()]
        pages = [Page(path.name, n, t, "pdf") for n, t in enumerate(texts, 1) if t.strip()]
        chunks = split.split_pages(pages)
        headed = sum(any(line_key(line) in keys for line in c.text.split("\n") if line.strip()) for c in chunks)
        rows.append({"pdf": path.name, "variant": name, "pages": len(texts), "pages_with_text": len(pages),
                     "words_per_page": round(len(words) / max(1, len(texts)), 1),
                     "glued_share": round(sum(bool(GLUED.search(w)) for w in words) / max(1, len(words)), 4),
                     "chunks": len(chunks), "header_chunk_share": round(headed / max(1, len(chunks)), 4),
                     "seconds": round(seconds, 2), "title": running.title})
    return rows


def main(paths: list[str]) -> None:
    split = chunker()
    print("| PDF | variant | pages (with text) | words/page | 20+-letter runs | chunks with a running line | seconds |")
    print("|---|---|---|---|---|---|---|")
    for path in paths:
        for r in measure(Path(path), split):
            print(f"| {r['pdf']} | {r['variant']} | {r['pages']} ({r['pages_with_text']}) | {r['words_per_page']} | "
                  f"{100 * float(r['glued_share']):.2f} % | {100 * float(r['header_chunk_share']):.1f} % "
                  f"of {r['chunks']} | {r['seconds']} |")
        print(f"| {Path(path).name} | title found | {r['title'] or '(none)'} | | | | |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: bench/pdf_text.py FILE.pdf [FILE.pdf ...]")
    main(sys.argv[1:])

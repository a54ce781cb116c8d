"""Rebuild corpora/wiki-demo from ../shared/data/squad2/dev10.json (run once; output committed).

Three articles become Markdown files; a fourth becomes a multi-page PDF (fpdf2, a dev extra),
so the demo exercises both loaders.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fpdf import FPDF

from rag.datasets import article_filename, article_markdown, load_squad_json

HERE = Path(__file__).resolve().parent
MARKDOWN_ARTICLES = ["Steam_engine", "Packet_switching", "Immune_system"]
PDF_ARTICLE = "Huguenot"


def write_pdf(article: dict, path: Path) -> None:
    pdf = FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, article["title"].replace("_", " "), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for paragraph in article["paragraphs"][:14]:
        text = paragraph["context"].encode("latin-1", "replace").decode("latin-1")
        pdf.multi_cell(0, 5.5, text)
        pdf.ln(3)
    pdf.output(str(path))


def main(dataset: str = str(HERE.parent.parent / "shared/data/squad2/dev10.json")) -> None:
    articles = {a["title"]: a for a in load_squad_json(dataset)}
    out = HERE / "wiki-demo"
    out.mkdir(exist_ok=True)
    for title in MARKDOWN_ARTICLES:
        (out / article_filename(title)).write_text(article_markdown(articles[title]), encoding="utf-8")
    write_pdf(articles[PDF_ARTICLE], out / f"{PDF_ARTICLE}.pdf")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Evaluation datasets: SQuAD 2.0 JSON and a hand-written JSONL format."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rag.errors import InputError


def article_filename(title: str) -> str:
    """File name of a SQuAD article's Markdown document."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("_") + ".md"


def article_markdown(article: dict[str, Any]) -> str:
    """A SQuAD article as Markdown: its title as a heading, then its paragraphs."""
    title = article["title"].replace("_", " ")
    return f"# {title}\n\n" + "\n\n".join(p["context"].strip() for p in article["paragraphs"]) + "\n"


def load_squad_json(path: str | Path) -> list[dict[str, Any]]:
    """The articles of a SQuAD 2.0 file.

    Raises:
        InputError: missing file or not SQuAD-shaped JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        articles = data["data"]
        if not isinstance(articles, list) or not all("paragraphs" in a for a in articles):
            raise KeyError("paragraphs")
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: expected SQuAD 2.0 JSON ({{'data': [{{'title', 'paragraphs'}}]}}): "
                         f"{exc}") from None
    return list(articles)

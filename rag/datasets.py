"""Question datasets shared by evaluation and fine-tuning: SQuAD 2.0 JSON and a hand-written JSONL."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
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


def write_articles(path: str | Path, folder: str | Path) -> int:
    """Write each article of the SQuAD file `path` into `folder` (created) as one Markdown
    file; returns how many."""
    articles = load_squad_json(path)
    Path(folder).mkdir(parents=True, exist_ok=True)
    for article in articles:
        (Path(folder) / article_filename(article["title"])).write_text(article_markdown(article), encoding="utf-8")
    return len(articles)


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


@dataclass(frozen=True)
class EvalItem:
    """One question with what is known about its answer.

    `answerable` None means unknown (a JSONL row that says nothing); `gold_sources` are file
    names relative to the document folder; `gold_context` is SQuAD's paragraph.
    """

    id: str
    question: str
    answers: tuple[str, ...] = ()
    answerable: bool | None = None
    gold_sources: tuple[str, ...] = ()
    gold_page: int | None = None
    gold_context: str = ""
    article: str = ""


@dataclass(frozen=True)
class EvalSet:
    """Questions plus where their documents are (a folder, or SQuAD articles to write out)."""

    items: tuple[EvalItem, ...]
    articles: tuple[dict[str, Any], ...] = ()
    docs: Path | None = None

    def write_documents(self, folder: Path) -> Path:
        """Write SQuAD articles as Markdown into `folder` (unchanged files are left alone)."""
        folder.mkdir(parents=True, exist_ok=True)
        for article in self.articles:
            path = folder / article_filename(article["title"])
            text = article_markdown(article)
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
        return folder


def load_squad(path: str | Path) -> EvalSet:
    """SQuAD 2.0: articles become documents; each question keeps golds, paragraph, is_impossible."""
    articles = load_squad_json(path)
    items = []
    for article in articles:
        source = article_filename(article["title"])
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
                items.append(EvalItem(str(qa["id"]), qa["question"], () if impossible else answers,
                                      not impossible, (source,), None, paragraph["context"],
                                      article["title"]))
    return EvalSet(tuple(items), tuple(articles))


def load_jsonl(path: str | Path, docs: str | Path | None) -> EvalSet:
    """Hand-written JSONL: {"question", "answers"?, "answerable"?, "sources"?, "page"?} per line.

    Raises:
        InputError: a malformed line (its number is named) or a missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset {str(path)!r} does not exist")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question = row["question"]
            if not isinstance(question, str) or not question.strip():
                raise ValueError("question must be a non-empty string")
            answers = tuple(str(a) for a in row.get("answers", []))
            answerable = row.get("answerable", True if answers else None)
            if answerable is not None and not isinstance(answerable, bool):
                raise ValueError(f"answerable must be true or false, got {answerable!r}")
            sources = tuple(str(s) for s in row.get("sources", []))
            page = row.get("page")
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{number}: expected {{\"question\", \"answers\"?, "
                             f"\"answerable\"?, \"sources\"?, \"page\"?}}: {exc}") from None
        items.append(EvalItem(str(row.get("id", number)), question, answers, answerable, sources,
                              page, "", sources[0] if sources else ""))
    return EvalSet(tuple(items), (), Path(docs) if docs else None)


def load_dataset(path: str | Path, docs: str | Path | None = None) -> EvalSet:
    """SQuAD JSON (.json) or hand-written JSONL (.jsonl)."""
    if str(path).endswith(".jsonl"):
        return load_jsonl(path, docs)
    return load_squad(path)


def sample(items: Sequence[EvalItem], limit: int | None, seed: int = 0,
           articles: Sequence[str] = (), exclude_articles: Sequence[str] = ()) -> list[EvalItem]:
    """Deterministic sample: filter by article, then half answerable / half not where possible.

    Raises:
        InputError: an article name that matches nothing.
    """
    known = {i.article for i in items}
    for name in [*articles, *exclude_articles]:
        if name not in known:
            raise InputError(f"article {name!r} is not in the dataset; it has: {', '.join(sorted(known))}")
    pool = [i for i in items if (not articles or i.article in articles) and i.article not in exclude_articles]
    rng = random.Random(seed)
    if limit is None or limit >= len(pool):
        return sorted(pool, key=lambda i: rng.random())
    groups = [[i for i in pool if i.answerable is True], [i for i in pool if i.answerable is False],
              [i for i in pool if i.answerable is None]]
    for group in groups:
        rng.shuffle(group)
    half = limit // 2
    take_yes = min(len(groups[0]), max(half, limit - len(groups[1]) - len(groups[2])))
    take_no = min(len(groups[1]), limit - take_yes)
    chosen = groups[0][:take_yes] + groups[1][:take_no]
    chosen += groups[2][:limit - len(chosen)]
    rng.shuffle(chosen)
    return chosen

"""What an evaluation run is: its settings (EvalRun), its variants' names, the rows already
written (resumable), and the gold paragraph a question is read against in gold-paragraph mode."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.config import RagConfig
from rag.datasets import EvalItem
from rag.errors import InputError
from rag.types import Chunk, Hit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalRun:
    """What to evaluate and where to write it."""

    data: Path
    out: Path
    index: Path | None = None
    docs: Path | None = None
    limit: int | None = None
    seed: int = 0
    variants: tuple[str, ...] = ("default",)
    options: dict[str, Any] = field(default_factory=dict)  # applied to every variant (--k, --adapter)
    articles: tuple[str, ...] = ()
    exclude_articles: tuple[str, ...] = ()
    threshold: float = 0.5
    progress: bool = True  # a live tqdm bar (for a terminal)
    progress_lines: bool = False  # else a plain stderr line every tenth of a variant (for logs, CI)
    retrieval_only: bool = False  # retrieve and score the hits, generate nothing (retrieval metrics, fast)
    gold_paragraph: bool = False  # each question read against its own SQuAD paragraph, no retrieval
    reader_check: bool = False  # score generated answers with the reader too (reader_detector_auc)


def parse_variant(name: str) -> tuple[bool, dict[str, str]]:
    """(closed_book, options) of a variant name.

    Raises:
        InputError: a part that is neither a known variant nor key=value.
    """
    closed_book, options = False, {}
    for part in name.split("+"):
        if part == "closed-book":
            closed_book = True
        elif "=" in part:
            key, _, value = part.partition("=")
            options[key.strip()] = value.strip()
        elif part != "default":
            raise InputError(f"variant {name!r}: expected 'default', 'closed-book' or key=value, got {part!r}")
    return closed_book, options


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows already written. A torn line (an interrupted write) is dropped and the file
    rewritten without it, so the next appended row starts on a line of its own."""
    if not path.is_file():
        return []
    rows, torn = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            torn += 1
    if torn:
        log.warning("dropping %d torn line(s) in %s", torn, path)
        staging = path.with_suffix(".jsonl.tmp")
        staging.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        staging.replace(path)
    return rows


def gold_threshold(config: RagConfig) -> float | None:
    """The reader card's threshold for reading one paragraph alone (fitted on its held-back
    articles read that way), else its retrieval threshold."""
    from rag.answer.reader.folder import read_card, resolve_reader

    card = read_card(resolve_reader(config.answer.reader))
    value = card.get("gold_paragraph_threshold", card.get("no_answer_threshold"))
    return float(value) if value is not None else None


def gold_hit(item: EvalItem) -> Hit:
    """A SQuAD question's own paragraph as the one hit it is read against."""
    source = item.gold_sources[0] if item.gold_sources else item.article
    text = item.gold_context
    return Hit(Chunk(f"{source}#gold-{item.id}", text, source, None, 0, "", ""), 1.0)

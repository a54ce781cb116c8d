"""The reader's no-answer threshold, fitted on articles held out of training and asked through
retrieval exactly as `ask` does (same chunker, retriever, k), maximising SQuAD 2.0 F1 (the
search of rag.finetune.calibrate: every cut between two observed gaps, scored over all
questions). Never fitted on an article that is measured. A second threshold, for reading a
question against its own paragraph alone (`rag eval --gold-paragraph`), is fitted on the same
questions read that way."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.answer.match import f1_score
from rag.finetune.calibrate import CalibrationRow, answerable_refusal_rate, fit_threshold, squad2_score


def reading_rows(reader: Any, retriever: Any, questions: Sequence[Any], k: int,
                 progress: bool = False) -> list[CalibrationRow]:
    """Each question retrieved, read, and scored with no threshold (every span answered)."""
    rows = []
    for q in tqdm(questions, desc="calibrate", unit="q", disable=not progress):
        hits = retriever.retrieve(q.question, k).hits
        reading = reader.read(q.question, [h.chunk.text for h in hits]) if hits else None
        answerable = bool(q.answers)
        gap = reading.gap if reading is not None else None
        f1 = f1_score(reading.text, [a for a, _ in q.answers]) if reading is not None and answerable else 0.0
        rows.append(CalibrationRow(gap, answerable, reading is None, f1))
    return rows


def paragraph_rows(reader: Any, questions: Sequence[Any], progress: bool = False) -> list[CalibrationRow]:
    """Each question read against its own paragraph alone (the gold-paragraph setting)."""
    rows = []
    for q in tqdm(questions, desc="calibrate (own paragraph)", unit="q", disable=not progress):
        reading = reader.read(q.question, [q.context])
        answerable = bool(q.answers)
        f1 = f1_score(reading.text, [a for a, _ in q.answers]) if answerable and reading.passage >= 0 else 0.0
        rows.append(CalibrationRow(reading.gap if reading.passage >= 0 else None, answerable,
                                   reading.passage < 0, f1))
    return rows


def fit(rows: Sequence[CalibrationRow], max_refusal: float = 1.0) -> dict[str, Any]:
    """The threshold maximising SQuAD 2.0 F1 on `rows` among those refusing at most
    `max_refusal` of the answerable rows, and what it does there."""
    threshold, with_cut, without = fit_threshold(rows, max_refusal=max_refusal)
    if threshold is None:  # answering everything scored best: cut below every gap
        gaps = [r.margin for r in rows if r.margin is not None]
        threshold = round(min(gaps) - 1.0, 4) if gaps else 0.0
    unanswerable = [r for r in rows if not r.answerable]
    answered_wrongly = [r for r in unanswerable if r.margin is not None and r.margin >= threshold]
    return {"threshold": threshold, "squad2_f1_with": round(with_cut, 4),
            "squad2_f1_without": round(without, 4), "squad2_f1_at_zero": round(squad2_score(rows, 0.0), 4),
            "answerable_refused_with": round(answerable_refusal_rate(rows, threshold), 4),
            "false_answer_rate_with": round(len(answered_wrongly) / max(1, len(unanswerable)), 4),
            "max_refusal": max_refusal, "n": len(rows), "n_answerable": sum(r.answerable for r in rows)}


def calibrate_reader(run: Any, folder: Path, questions: Sequence[Any], articles: dict[str, Any],
                     work: Path) -> dict[str, Any]:
    """Fit the threshold of the reader in `folder` on the run's calibration articles; {} when
    the run holds none back."""
    from rag.answer.reader.reader import SpanReader
    from rag.train_reader.retrieved import index_articles

    if not questions:
        return {}
    chosen = list(questions)
    if run.calibration_questions and run.calibration_questions < len(chosen):
        chosen = random.Random(run.settings.seed + 1).sample(chosen, run.calibration_questions)
    names = list(dict.fromkeys(q.article for q in chosen))
    pipeline = index_articles(run.config, [articles[a] for a in names], work / "calibration", run.progress)
    reader = SpanReader(folder)
    rows = reading_rows(reader, pipeline.retriever(), chosen, run.config.retrieval.k, run.progress)
    (work / "calibration_rows.json").write_text(json.dumps([r.__dict__ for r in rows]), encoding="utf-8")
    # The same questions against their own paragraph: one window, not k, so its gaps run
    # otherwise; its own threshold serves `rag eval --gold-paragraph` (never `ask`).
    own = paragraph_rows(reader, chosen, run.progress)
    # The cap keeps the search from its degenerate optimum: with a weak no-answer score,
    # refusing nearly everything scores best on SQuAD 2.0 and is useless to a user. The
    # uncapped optimum is kept beside it.
    return {**fit(rows, run.max_refusal), "articles": names, "uncapped": fit(rows),
            "gold_paragraph": {**fit(own, run.max_refusal), "uncapped": fit(own)}}

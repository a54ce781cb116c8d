"""The learning curve: at each checkpoint the model in training is written as a reader folder
(`work/latest`) and reads held-back questions against their own paragraphs; what it scores
there joins the card. Never measured on an article that is evaluated (the calibration
articles serve)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.answer.verify.calibration import auc
from rag.finetune.calibrate import CalibrationRow
from rag.train_reader.calibrate import fit, paragraph_rows
from rag.train_reader.train import CheckpointHook


def no_answer_auc(rows: Sequence[CalibrationRow]) -> float | None:
    """How often an answerable question's gap beats an unanswerable one's (ties count half)."""
    found = auc([r.margin if r.margin is not None else float("-inf") for r in rows], [r.answerable for r in rows])
    return round(found, 4) if found is not None else None


def curve_point(rows: Sequence[CalibrationRow]) -> dict[str, Any]:
    """Held-back scores of one checkpoint: answerable F1 (every span answered), the no-answer
    AUC, and SQuAD 2.0 F1 at gap 0 and at the best cut on these rows."""
    answerable = [r for r in rows if r.answerable]
    fitted = fit(rows)
    return {"answerable_f1": round(sum(r.f1 for r in answerable) / max(1, len(answerable)), 4),
            "no_answer_auc": no_answer_auc(rows), "squad2_f1_at_zero": fitted["squad2_f1_at_zero"],
            "squad2_f1_best_cut": fitted["squad2_f1_with"], "n": len(rows)}


def curve_hook(questions: Sequence[Any], encoder: Path, settings: Any, work: Path) -> CheckpointHook:
    """A checkpoint hook scoring the model on `questions` read against their own paragraphs."""
    from rag.answer.reader.reader import SpanReader
    from rag.train_reader.save import save_reader

    def measure(model: Any, state: dict[str, Any]) -> dict[str, Any]:
        folder = work / "latest"
        save_reader(model, encoder, folder, settings)
        reader = SpanReader(folder, backend="torch")
        return curve_point(paragraph_rows(reader, questions))

    return measure


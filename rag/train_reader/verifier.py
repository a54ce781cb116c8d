"""Fitting the answer verifier (rag.answer.verify) of a reader on held-back questions asked
through retrieval as `ask` asks them: each reading's features and whether it is right (F1 >= 0.5
against an answerable question's gold answers; any answer to an unanswerable one is wrong).
Two thirds of the questions (by article order, seeded) fit the regression and its threshold
(the confidence cut maximising SQuAD 2.0 F1); the other third reports AUC, ECE, a reliability
plot and SQuAD 2.0 F1 at the fitted threshold against the gap-only rule fitted on the same split."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.answer.match import f1_score
from rag.answer.verify import FEATURES, Reading, Verifier, verification_features
from rag.answer.verify.calibration import auc, expected_calibration_error, plot_reliability, risk_coverage
from rag.answer.verify.model import fit_logistic
from rag.finetune.calibrate import CalibrationRow, fit_threshold, squad2_score


@dataclass(frozen=True)
class VerifierRow:
    features: dict[str, float]
    answerable: bool
    answered: bool  # the reader found a span at all
    f1: float
    gap: float | None

    @property
    def right(self) -> bool:
        return self.answered and self.answerable and self.f1 >= 0.5


def verifier_rows(reader: Any, retriever: Any, questions: Sequence[Any], k: int,
                  progress: bool = False) -> list[VerifierRow]:
    """Each question retrieved and read with no threshold, its features and its F1."""
    rows = []
    for q in tqdm(questions, desc="verifier", unit="q", disable=not progress):
        hits = retriever.retrieve(q.question, k).hits
        read: Any = reader.read(q.question, [h.chunk.text for h in hits]) if hits else None
        answered = read is not None and read.passage >= 0
        gap = read.gap if answered else None
        reading = Reading(q.question, read.text, read.passage, read.start, read.end, read.gap) if answered \
            else Reading(q.question, "", -1, 0, 0, float("-inf"))
        f1 = f1_score(reading.text, [a for a, _ in q.answers]) if answered and q.answers else 0.0
        rows.append(VerifierRow(verification_features(reading, hits), bool(q.answers), answered, f1, gap))
    return rows


def generated_rows(answerer: Any, reader: Any, retriever: Any, questions: Sequence[Any], k: int,
                   progress: bool = False) -> list[VerifierRow]:
    """Each question retrieved and answered by the generator (no threshold, no support check),
    the features of its answer with the reader as the check, its F1; `gap` holds the generator's
    own margin (the rule the verifier replaces)."""
    from rag.answer.verify.generated import generated_features

    rows = []
    for q in tqdm(questions, desc="generated", unit="q", disable=not progress):
        hits = retriever.retrieve(q.question, k).hits
        draft = _drained(answerer.draft(q.question, hits)) if hits else None
        answered = draft is not None and not draft.refused and bool(draft.text.strip())
        if draft is None or not answered:
            rows.append(VerifierRow({}, bool(q.answers), False, 0.0, None))
            continue
        features = generated_features(q.question, draft.text, draft.hits,
                                      reader.read(q.question, [h.chunk.text for h in draft.hits]))
        f1 = f1_score(draft.text, [a for a, _ in q.answers]) if q.answers else 0.0
        rows.append(VerifierRow(features, bool(q.answers), True, f1, draft.margin if draft.margin is not None else 0.0))
    return rows


def _drained(pieces: Any) -> Any:
    """The Draft an answerer's draft generator returns, its streamed pieces dropped."""
    while True:
        try:
            next(pieces)
        except StopIteration as done:
            return done.value


def _cut(rows: Sequence[VerifierRow], score: Any) -> list[CalibrationRow]:
    return [CalibrationRow(score(r) if r.answered else None, r.answerable, not r.answered, r.f1) for r in rows]


def fit_verifier(rows: Sequence[VerifierRow], seed: int, plot: Path | None = None,
                 features: Sequence[str] = FEATURES) -> tuple[Verifier, dict[str, Any]]:
    """The verifier over `features` fitted on two thirds of `rows`, and its report on the rest
    (the gap-only rule's figures come from each row's `gap`)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    cut = round(len(rows) * 2 / 3)
    fit_rows = [rows[i] for i in order[:cut] if rows[i].answered]
    held = [rows[i] for i in order[cut:]]
    model = fit_logistic([r.features for r in fit_rows], [r.right for r in fit_rows], features)
    fitted = [rows[i] for i in order[:cut]]

    def confidence(row: VerifierRow) -> float:
        return model.confidence(row.features)

    threshold, _, _ = fit_threshold(_cut(fitted, confidence), 1.0)
    model = Verifier(model.features, model.mean, model.scale, model.weights, model.bias,
                     min(1.0, max(0.0, threshold if threshold is not None else 0.0)))
    gap_threshold, _, _ = fit_threshold(_cut(fitted, lambda r: r.gap), 1.0)
    answered = [r for r in held if r.answered]
    scores = [model.confidence(r.features) for r in answered]
    labels = [r.right for r in answered]
    report = {"fit_questions": len(fitted), "report_questions": len(held), "label": model.label,
              "auc": _round(auc(scores, labels)), "ece": round(expected_calibration_error(scores, labels), 4),
              "gap_auc": _round(auc([r.gap or 0.0 for r in answered], labels)),
              "risk_coverage": risk_coverage(scores, labels),
              "squad2_f1_at_threshold": round(squad2_score(_cut(held, confidence), model.threshold), 4),
              "squad2_f1_gap_rule": round(squad2_score(_cut(held, lambda r: r.gap), gap_threshold), 4),
              "gap_rule_threshold": gap_threshold}
    if plot is not None and scores:
        plot_reliability(scores, labels, plot, f"verifier on {len(held)} held-back questions")
        report["reliability_plot"] = plot.name
    return model, report


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def calibrate_verifier(run: Any, engine: str = "reader") -> dict[str, Any]:
    """Fit the verifier of the reader in `run.out` (engine "reader"), or of generated answers
    checked by it ("generator": the configured generator answers), on the run's calibration
    articles asked through retrieval as `ask` asks, and write it into the reader's card.json.

    Returns:
        The card's new "verifier" (or "generator_verifier") block.

    Raises:
        InputError: no calibration articles, or a reader folder without a card.
    """
    import json

    from rag.answer.reader.reader import SpanReader
    from rag.answer.verify.features import GENERATED_FEATURES
    from rag.errors import InputError
    from rag.train_reader.retrieved import index_articles
    from rag.train_reader.run import split_questions

    if not run.calibration_articles:
        raise InputError("--calibrate needs --calibration-articles: held-back articles that never trained the reader")
    card_path = Path(run.out) / "card.json"
    if not card_path.is_file():
        raise InputError(f"{str(card_path)!r} does not exist: --calibrate fits the verifier of a trained reader folder")
    _, questions, articles = split_questions(run)
    if run.calibration_questions and run.calibration_questions < len(questions):
        questions = random.Random(run.settings.seed + 1).sample(questions, run.calibration_questions)
    names = list(dict.fromkeys(q.article for q in questions))
    work = run.work_dir()
    pipeline = index_articles(run.config, [articles[a] for a in names], work / "calibration", run.progress)
    reader, k = SpanReader(run.out), run.config.retrieval.k
    if engine == "reader":
        rows = verifier_rows(reader, pipeline.retriever(), questions, k, run.progress)
        model, report = fit_verifier(rows, run.settings.seed, work / "reliability.png")
    else:
        rows = generated_rows(_generating(pipeline), reader, pipeline.retriever(), questions, k, run.progress)
        model, report = fit_verifier(rows, run.settings.seed, work / "reliability-generator.png", GENERATED_FEATURES)
    block = model.to_card(articles=names, **report)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["verifier" if engine == "reader" else "generator_verifier"] = block
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return block


def _generating(pipeline: Any) -> Any:
    """The configured generator's answerer, with no confidence of its own (it is being fitted)."""
    from rag.answer.generative import GenerativeAnswerer
    from rag.answer.prompt import load_template

    c = pipeline.config
    return GenerativeAnswerer(pipeline.generator(), load_template(c.prompt.template), c.prompt.refusal,
                              c.generator.max_new_tokens, c.answer.mode)

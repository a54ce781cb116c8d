"""The reader's card: how it was made (data, split, mix, windows, steps, losses, speed) and the
no-answer threshold fitted on held-back articles, written beside the weights as card.json."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

MIX_REASONS = {
    "paragraph": "every SQuAD question against its own paragraph: learning to read",
    "unanswerable": "SQuAD 2.0's adversarial unanswerables (train10, dev19 less the calibration articles): "
                    "the null on passages written to look as if they answered",
    "swap": "answerable questions with an entity, year, number or word swapped so the paragraph no longer "
            "answers them (Gautam et al. 2023): more adversarial nulls than humans wrote here",
    "retrieved_span": "chunks the pipeline's own retrieval returns that hold the answer: spans as `ask` shows them",
    "retrieved_null": "retrieved chunks without the answer: the distractors the reader meets in `ask`",
}


def make_card(run: Any, counts: dict[str, int], windows: int, result: Any, calibration: dict[str, Any],
              seconds: float, pools: dict[str, int]) -> dict[str, Any]:
    """The JSON card written beside the reader."""
    total = sum(counts.values())
    return {
        "encoder": run.encoder or "all-MiniLM-L6-v2",
        "head": "BertForQuestionAnswering (start/end logits per token; no-answer at [CLS])",
        "data": list(run.data),
        "split": {"calibration_articles": list(run.calibration_articles),
                  "exclude_articles": list(run.exclude_articles)},
        "examples": {**counts, "total": total, "windows": windows,
                     "shares": {k: round(v / max(1, total), 3) for k, v in counts.items()},
                     "pools": pools, "retrieval_articles": run.retrieval_articles,
                     "mix": "sampled: shares of limit" if run.limit is not None else "whole pools, repeated",
                     "repeats": run.repeats if run.limit is None else None,
                     "reasons": MIX_REASONS},
        "retrieval": {"mode": run.config.retrieval.mode, "k": run.config.retrieval.k,
                      "chunk_size_tokens": run.config.chunking.chunk_size_tokens},
        "hyperparameters": asdict(run.settings),
        "steps": result.steps,
        "total_steps": result.total_steps,
        "first_train_loss": result.first_loss,
        "final_train_loss": result.final_loss,
        "losses": [round(x, 4) for x in result.losses],
        "windows_trained": result.windows,
        "epochs_done": round(result.windows / max(1, windows), 3),
        "precision": result.precision,
        "device": result.device,
        "windows_per_s": round(result.windows_per_s, 2),
        "train_seconds": round(result.seconds, 1),
        "train_hours": round(result.seconds / 3600, 2),
        "learning_curve": result.curve,
        "wall_seconds": round(seconds, 1),
        "no_answer_rule": "refuse when best span score - lowest window null score < threshold",
        "no_answer_threshold": calibration.get("threshold"),
        "gold_paragraph_threshold": (calibration.get("gold_paragraph") or {}).get("threshold"),
        "calibration": calibration,
        "command": run.command or " ".join(sys.argv),
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(readme(card), encoding="utf-8")


def describe(card: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    ex = card["examples"]
    kinds = ", ".join(f"{ex.get(k, 0)} {k}" for k in MIX_REASONS)
    c = card.get("calibration") or {}
    fitted = (f"no-answer threshold {card['no_answer_threshold']} (SQuAD 2.0 F1 {c.get('squad2_f1_with')} on "
              f"{c.get('n')} held-back questions through retrieval)" if c else "no calibration")
    return (f"examples {ex['total']} ({ex['windows']} windows): {kinds}\n"
            f"steps {card['steps']}/{card['total_steps']}, loss {card['first_train_loss']} -> "
            f"{card['final_train_loss']}, {card.get('precision', 'fp32')}, {card['windows_per_s']} windows/s, "
            f"{card['train_seconds'] / 60:.1f} min training\n{fitted}")


def readme(card: dict[str, Any]) -> str:
    return (f"# Extractive reader: {card['encoder']} with a span head\n\n"
            "Made by `rag train-reader` (localrag). It reads a question against retrieved chunks and\n"
            "answers with a verbatim span, or refuses when no span beats the no-answer score by the\n"
            "threshold in `card.json` (`no_answer_threshold`).\n\n"
            f"Command: `{card['command']}`\n\n" + describe(card).replace("\n", "  \n") + "\n")

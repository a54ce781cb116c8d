"""The adapter card: how an adapter was made (data, split, example kinds, hyperparameters,
losses, speed) and the refusal thresholds `ask` uses with it; and a README rendering it."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from typing import Any

from rag.config import RagConfig


def make_card(run: Any, counts: dict[str, int], result: Any, calibration: dict[str, Any],
              lengths: list[int], seconds: float, config: RagConfig) -> dict[str, Any]:
    """The JSON card written beside the adapter."""
    thresholds = {mode: c["threshold"] for mode, c in calibration.items()}
    return {
        "base_model": config.generator.model,
        # QLoRA: trained on the base frozen in 4-bit NF4; it serves, like any adapter, on the full base.
        "method": "qlora" if run.settings.qlora else "lora",
        "data": list(run.data),
        "split": {"articles": list(run.articles), "exclude_articles": list(run.exclude_articles)},
        "examples": {**counts, "total": sum(counts.values()),
                     "shares": {k: round(v / max(1, sum(counts.values())), 3) for k, v in counts.items()},
                     "mean_tokens": round(sum(lengths) / max(1, len(lengths)), 1)},
        "retrieval": {"k": config.retrieval.k, "chunk_size_tokens": config.chunking.chunk_size_tokens,
                      "template": "default" if config.prompt.template is None else config.prompt.template,
                      "refusal": config.prompt.refusal},
        "hyperparameters": {**asdict(run.settings), "target_modules": list(run.settings.target_modules)},
        "steps": result.steps,
        "first_train_loss": result.first_loss,
        "final_train_loss": result.final_loss,
        "losses": result.losses,
        "tokens_per_s": round(result.tokens_per_s, 1),
        "train_seconds": round(result.seconds, 1),
        "wall_seconds": round(seconds, 1),
        "refusal_thresholds": thresholds,
        "refusal_threshold": thresholds.get(config.answer.mode),
        "calibration": calibration,
        "command": run.command or " ".join(sys.argv),
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def describe(card: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    ex = card["examples"]
    return (f"examples {ex['total']}: {ex['span']} span, {ex['refusal_unanswerable']} unanswerable, "
            f"{ex['refusal_not_retrieved']} not retrieved\n"
            f"steps {card['steps']}, loss {card['first_train_loss']} -> {card['final_train_loss']}, "
            f"{card['tokens_per_s']} tok/s, {card['train_seconds'] / 60:.1f} min training, "
            f"{card['wall_seconds'] / 60:.1f} min in all\n"
            f"refusal thresholds {json.dumps(card['refusal_thresholds'])}")


def readme(card: dict[str, Any]) -> str:
    """The adapter folder's README: what it is for, how it was made, how to use it."""
    trained = (" (QLoRA: trained on the base frozen in 4-bit NF4; it serves on the full-precision base)"
               if card.get("method") == "qlora" else "")
    return (f"# LoRA adapter for {card['base_model']}{trained}\n\n"
            "Made by `rag finetune` (localrag) to answer from retrieved documents with a short span, or\n"
            f"with the refusal sentence ({card['retrieval']['refusal']!r}) when they do not hold the answer.\n\n"
            f"Command: `{card['command']}`\n\n" + describe(card).replace("\n", "  \n") + "\n\n"
            "`card.json` holds the data, split, example counts, hyperparameters, losses and the refusal\n"
            "thresholds fitted on held-back training questions. Use: `rag ask Q --adapter THIS_FOLDER`.\n")

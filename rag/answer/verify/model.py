"""The verifier: a logistic regression over the features of rag.answer.verify.features, kept in
the reader's card.json as plain numbers (readable, diffable; no pickles):

    "verifier": {"features": [...], "mean": [...], "scale": [...], "weights": [...],
                 "bias": b, "threshold": t, "label": "f1 >= 0.5", ...}

confidence = sigmoid(bias + sum(weights * (x - mean) / scale)): the probability that the
answer is right (its F1 against the gold answers is at least 0.5; `label` says so).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.errors import InputError

LABEL = "f1 >= 0.5"


class VerifierCardError(InputError):
    """A reader card's verifier block is missing a field or holds a wrong one (exit code 2, as
    any other broken reader folder)."""


@dataclass(frozen=True)
class Verifier:
    """A fitted verifier: feature names, scaling, weights, bias and the refusal threshold."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    label: str = LABEL

    def confidence(self, values: Mapping[str, float]) -> float:
        """The probability that the answer with these feature values is right."""
        z = self.bias + sum(w * (float(values[name]) - m) / s for name, m, s, w in
                            zip(self.features, self.mean, self.scale, self.weights))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_card(self, **extra: Any) -> dict[str, Any]:
        """The card's block (rounded for reading; `extra` adds the fit's report)."""
        return {"features": list(self.features), "mean": [round(x, 6) for x in self.mean],
                "scale": [round(x, 6) for x in self.scale], "weights": [round(x, 6) for x in self.weights],
                "bias": round(self.bias, 6), "threshold": round(self.threshold, 6), "label": self.label, **extra}

    @classmethod
    def from_card(cls, block: Any, where: str = "card.json", name: str = "verifier",
                  known: Sequence[str] | None = None) -> Verifier:
        """The verifier of a card's "verifier" block (or the block `name`, whose features must be
        among `known`, FEATURES by default).

        Raises:
            VerifierCardError: a missing or malformed field (the message names it).
        """
        if not isinstance(block, Mapping):
            raise VerifierCardError(f"{where}: {name!r} must be an object; got {type(block).__name__}")
        names = block.get("features")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise VerifierCardError(f"{where}: {name}.features must be a non-empty list of feature names")
        from rag.answer.verify.features import FEATURES

        known = tuple(known or FEATURES)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise VerifierCardError(f"{where}: {name}.features holds unknown features {unknown}; "
                                    f"known: {', '.join(known)}")
        vectors = {}
        for key in ("mean", "scale", "weights"):
            value = block.get(key)
            if not isinstance(value, list) or len(value) != len(names) or \
                    not all(isinstance(x, (int, float)) and math.isfinite(x) for x in value):
                raise VerifierCardError(f"{where}: {name}.{key} must be a list of {len(names)} finite numbers")
            vectors[key] = tuple(float(x) for x in value)
        if any(s <= 0 for s in vectors["scale"]):
            raise VerifierCardError(f"{where}: {name}.scale must hold numbers > 0")
        for key in ("bias", "threshold"):
            if not isinstance(block.get(key), (int, float)) or not math.isfinite(block[key]):
                raise VerifierCardError(f"{where}: {name}.{key} must be a finite number")
        if not 0.0 <= float(block["threshold"]) <= 1.0:
            raise VerifierCardError(f"{where}: {name}.threshold must be a probability from 0 to 1")
        return cls(tuple(names), vectors["mean"], vectors["scale"], vectors["weights"], float(block["bias"]),
                   float(block["threshold"]), str(block.get("label", LABEL)))


def fit_logistic(rows: Sequence[Mapping[str, float]], labels: Sequence[bool], features: Sequence[str],
                 l2: float = 1.0, iterations: int = 50) -> Verifier:
    """A logistic regression fitted by Newton's method with an L2 penalty on the standardized
    features (threshold 0.5 until one is fitted).

    Raises:
        ValueError: no rows, or only one class among the labels.
    """
    if not rows or len(set(labels)) < 2:
        raise ValueError("fitting a verifier needs right and wrong answers among its rows")
    x = np.array([[float(r[name]) for name in features] for r in rows], dtype=np.float64)
    y = np.array(labels, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    beta = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -60, 60)))
        gradient = z.T @ (p - y) + penalty @ beta
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Verifier(tuple(features), tuple(mean.tolist()), tuple(scale.tolist()), tuple(beta[1:].tolist()),
                    float(beta[0]), 0.5)

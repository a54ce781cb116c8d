"""The extractive reader: a question and passages in, the best verbatim span (or the verdict
that none answers) out. All windows of one question are read in one forward pass."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.reader.decode import best_span, char_span
from rag.answer.reader.folder import check_tokenizer, read_card, resolve_reader
from rag.answer.reader.network import open_network
from rag.answer.reader.windows import ReaderTokenizer, build_windows
from rag.answer.verify.model import Verifier

log = logging.getLogger(__name__)
_SAID: set[Path] = set()  # readers whose missing verifier was reported (once each)


@dataclass(frozen=True)
class Reading:
    """What the reader found for one question.

    Attributes:
        passage: index of the passage holding the best span; start, end: its characters there.
        text: passage[start:end], verbatim.
        score, null, gap: the span's score, the lowest no-answer score, and score - null.
        windows, tokens: windows and tokens read; seconds: time tokenizing, reading, decoding.
    """

    passage: int
    start: int
    end: int
    text: str
    score: float
    null: float
    gap: float
    windows: int
    tokens: int
    seconds: float


class SpanReader:
    """A trained reader folder (a packaged reader's name or a path) ready to read.

    Args:
        reader: the folder or packaged name (rag.answer.reader.folder).
        backend: "onnx" (exported once, cached) or "torch".
        max_length, stride: window size and overlap in tokens (default: as trained).

    Raises:
        ReaderLoadError: a missing or incomplete folder, or one made for another tokenizer.
    """

    def __init__(self, reader: str | Path, backend: str = "onnx", cache_dir: str | Path | None = None,
                 threads: int | None = None, max_length: int | None = None, stride: int | None = None) -> None:
        self.folder = resolve_reader(reader)
        config = check_tokenizer(self.folder)
        self.card = read_card(self.folder)
        self.verifier = verifier_of(self.card, self.folder)
        self.generated_verifier = generated_verifier_of(self.card, self.folder)
        self.tokenizer = ReaderTokenizer(self.folder / "tokenizer.json")
        self.max_length = int(max_length or config.get("reader_max_length", 256))
        self.stride = int(stride if stride is not None else config.get("reader_stride", 96))
        self.network, self.fallback = open_network(self.folder, backend, cache_dir, threads)

    @property
    def threshold(self) -> float:
        """The card's fitted no-answer threshold (0.0 when it has none)."""
        value = self.card.get("no_answer_threshold")
        return float(value) if value is not None else 0.0

    def read(self, question: str, passages: Sequence[str]) -> Reading:
        """The best span of `passages` for `question` with its no-answer evidence (passage
        -1 when there is nothing to read: no passages, or none with a token)."""
        started = time.perf_counter()
        if not passages:
            return Reading(-1, 0, 0, "", float("-inf"), 0.0, float("-inf"), 0, 0, 0.0)
        windows = build_windows(self.tokenizer, question, passages, self.max_length, self.stride)
        start_logits, end_logits = self.network.logits(windows.inputs())
        # Padding and question tokens never hold an answer; [CLS] keeps its no-answer score.
        choice = best_span(np.asarray(start_logits), np.asarray(end_logits), windows.offsets)
        tokens = int(windows.attention_mask.sum())
        if not np.isfinite(choice.score):
            return Reading(-1, 0, 0, "", choice.score, choice.null, float("-inf"), len(windows), tokens,
                           time.perf_counter() - started)
        passage = int(windows.passage[choice.window])
        start, end = char_span(windows.offsets, choice)
        return Reading(passage, start, end, passages[passage][start:end], choice.score, choice.null,
                       choice.gap, len(windows), tokens, time.perf_counter() - started)


def verifier_of(card: dict[str, Any], folder: Path) -> Verifier | None:
    """The answer verifier in a reader's card (None when it has none).

    Raises:
        VerifierCardError: a malformed verifier block (the message names the field).
    """
    if "verifier" not in card:
        if folder not in _SAID:
            _SAID.add(folder)
            log.info("reader %s has no verifier in its card: answers are refused by the no-answer gap alone", folder.name)
        return None
    return Verifier.from_card(card["verifier"], str(folder / "card.json"))


def generated_verifier_of(card: dict[str, Any], folder: Path) -> Verifier | None:
    """The verifier of generated answers in a reader's card (None when it has none).

    Raises:
        VerifierCardError: a malformed block (the message names the field).
    """
    from rag.answer.verify.features import GENERATED_FEATURES

    if "generator_verifier" not in card:
        return None
    return Verifier.from_card(card["generator_verifier"], str(folder / "card.json"), "generator_verifier",
                              GENERATED_FEATURES)

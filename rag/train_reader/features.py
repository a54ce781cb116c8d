"""Reading examples -> labelled windows (the inference windows of rag.answer.reader.windows) ->
batches of similar length.

A window that holds the whole answer is labelled with its start and end tokens; every other
window (a passage without the answer, or a stretch of a long passage that misses it) is
labelled (0, 0), the [CLS] position the no-answer score is read from.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from rag.answer.reader.windows import ReaderTokenizer, answer_positions, build_windows
from rag.train_reader.examples import ReadingExample


@dataclass(frozen=True)
class Feature:
    """One labelled window: token ids (question and passage, special tokens included), where
    the passage starts, and the answer's token positions ((0, 0): none)."""

    input_ids: tuple[int, ...]
    passage_from: int
    start: int
    end: int


def features_of(example: ReadingExample, tokenizer: ReaderTokenizer, max_length: int,
                stride: int) -> list[Feature]:
    """The labelled windows of one example."""
    windows = build_windows(tokenizer, example.question, [example.passage], max_length, stride)
    out = []
    for row in range(len(windows)):
        start, end = (0, 0)
        if example.answer_start is not None:
            start, end = answer_positions(windows, row, example.answer_start,
                                          example.answer_start + len(example.answer_text))
        used = int(windows.attention_mask[row].sum())
        passage_from = int(np.argmax(windows.token_type_ids[row])) if used else 0
        out.append(Feature(tuple(int(t) for t in windows.input_ids[row, :used]), passage_from, start, end))
    return out


def build_features(examples: Sequence[ReadingExample], tokenizer: ReaderTokenizer, max_length: int,
                   stride: int, progress: bool = False) -> list[Feature]:
    """Every example's labelled windows, in example order."""
    features: list[Feature] = []
    for example in tqdm(examples, desc="windows", unit="ex", disable=not progress):
        features += features_of(example, tokenizer, max_length, stride)
    return features


def length_batches(features: Sequence[Feature], batch_size: int, seed: int,
                   pool_batches: int = 50) -> list[list[int]]:
    """Indices of `features` in batches of similar length (less padding, the same examples):
    shuffled, sorted by length within pools of `pool_batches` batches, cut into batches, and the
    batches shuffled. Fixed by `seed`, so a resumed run sees the same order."""
    rng = random.Random(seed)
    order = list(range(len(features)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    pool = batch_size * pool_batches
    for at in range(0, len(order), pool):
        chunk = sorted(order[at:at + pool], key=lambda i: len(features[i].input_ids))
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(features: Sequence[Feature], pad_id: int) -> dict[str, np.ndarray]:
    """A batch padded to its longest window: input_ids, attention_mask, token_type_ids (1 from
    the passage on), start_positions, end_positions."""
    length = max(len(f.input_ids) for f in features)
    n = len(features)
    ids = np.full((n, length), pad_id, dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    types = np.zeros((n, length), dtype=np.int64)
    for row, f in enumerate(features):
        ids[row, :len(f.input_ids)] = f.input_ids
        mask[row, :len(f.input_ids)] = 1
        types[row, f.passage_from:len(f.input_ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
            "start_positions": np.array([f.start for f in features], dtype=np.int64),
            "end_positions": np.array([f.end for f in features], dtype=np.int64)}

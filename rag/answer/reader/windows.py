"""Question + passage -> fixed-size token windows the reader reads, and back to characters.

A window is `[CLS] question [SEP] passage tokens [SEP]`. A passage longer than one window is
read in several windows that overlap by `stride` tokens, so an answer cut by one window's end
lies whole in the next. Every passage token keeps its character offsets in the passage, so a
span the reader picks (a start and an end token) maps back to exact characters of the chunk.
Training (rag.train_reader) builds its windows with this same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import InputError

MAX_QUESTION_TOKENS = 64


class ReaderTokenizer:
    """The encoder's WordPiece tokenizer (tokenizer.json, the `tokenizers` library), used
    without its own truncation or special tokens: the windows add those.

    Raises:
        InputError: the file is missing or lacks [CLS], [SEP] or [PAD].
    """

    def __init__(self, path: str | Path) -> None:
        from tokenizers import Tokenizer

        path = Path(path)
        if not path.is_file():
            raise InputError(f"reader tokenizer {str(path)!r} does not exist")
        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        ids = {name: self._tokenizer.token_to_id(name) for name in ("[CLS]", "[SEP]", "[PAD]")}
        missing = [name for name, value in ids.items() if value is None]
        if missing:
            raise InputError(f"reader tokenizer {str(path)!r} has no {', '.join(missing)} token: "
                             "expected a BERT WordPiece tokenizer")
        self.cls_id, self.sep_id, self.pad_id = int(ids["[CLS]"] or 0), int(ids["[SEP]"] or 0), int(ids["[PAD]"] or 0)
        self.vocab_size = self._tokenizer.get_vocab_size()

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids of `text` and each token's (start, end) characters in it."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return list(encoding.ids), [tuple(o) for o in encoding.offsets]  # type: ignore[misc]

    def encode_many(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [(list(e.ids), [tuple(o) for o in e.offsets]) for e in encodings]  # type: ignore[misc]


@dataclass(frozen=True)
class Windows:
    """The windows of one question over its passages, as arrays ready for one forward pass.

    Attributes:
        input_ids, token_type_ids, attention_mask: [windows, length] int64.
        offsets: [windows, length, 2] character offsets of each token in its passage; -1 for
            question, special and padding tokens (they can never start or end an answer).
        passage: [windows] index of the passage each window reads.
    """

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    offsets: np.ndarray
    passage: np.ndarray

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def inputs(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                "token_type_ids": self.token_type_ids}


def window_starts(n_tokens: int, room: int, stride: int) -> list[int]:
    """First passage token of each window: `room` tokens a window, `stride` shared with the
    next; the last window ends at the passage's end. An empty passage gets one empty window."""
    if n_tokens <= room:
        return [0]
    step = room - stride
    starts = list(range(0, n_tokens - room, step))
    starts.append(n_tokens - room)
    return starts


def check_window(max_length: int, stride: int) -> None:
    """Raises InputError when windows of `max_length` tokens cannot overlap by `stride`."""
    room = max_length - MAX_QUESTION_TOKENS - 3
    if room < 16:
        raise InputError(f"max_length ({max_length}) must leave at least 16 passage tokens after "
                         f"a {MAX_QUESTION_TOKENS}-token question")
    if not 0 <= stride < room:
        raise InputError(f"stride ({stride}) must be >= 0 and less than the {room} passage tokens "
                         f"a window of max_length {max_length} holds")


def build_windows(tokenizer: ReaderTokenizer, question: str, passages: Sequence[str],
                  max_length: int = 256, stride: int = 96,
                  encoded: Sequence[tuple[list[int], list[tuple[int, int]]]] | None = None) -> Windows:
    """Every window of `question` over each of `passages` (question cut to 64 tokens).

    Args:
        encoded: the passages already tokenized (`tokenizer.encode_many`), to skip that work.
    """
    check_window(max_length, stride)
    q_ids = tokenizer.encode(question)[0][:MAX_QUESTION_TOKENS]
    room = max_length - len(q_ids) - 3
    rows: list[tuple[int, list[int], list[tuple[int, int]]]] = []
    for index, (ids, offsets) in enumerate(encoded or tokenizer.encode_many(passages)):
        for start in window_starts(len(ids), room, min(stride, room - 1)):
            rows.append((index, ids[start:start + room], offsets[start:start + room]))
    length = max(len(q_ids) + len(ids) + 3 for _, ids, _ in rows)
    n = len(rows)
    input_ids = np.full((n, length), tokenizer.pad_id, dtype=np.int64)
    token_types = np.zeros((n, length), dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    char_offsets = np.full((n, length, 2), -1, dtype=np.int64)
    head = [tokenizer.cls_id, *q_ids, tokenizer.sep_id]
    for row, (_, ids, offsets) in enumerate(rows):
        tokens = head + ids + [tokenizer.sep_id]
        input_ids[row, :len(tokens)] = tokens
        mask[row, :len(tokens)] = 1
        token_types[row, len(head):len(tokens)] = 1
        if ids:
            char_offsets[row, len(head):len(head) + len(ids)] = offsets
    return Windows(input_ids, token_types, mask, char_offsets,
                   np.array([r[0] for r in rows], dtype=np.int64))


def answer_positions(windows: Windows, row: int, answer_start: int, answer_end: int) -> tuple[int, int]:
    """The (start, end) token positions of characters [answer_start, answer_end) in window
    `row`, or (0, 0) (the [CLS] position: no answer) when the window does not hold all of it."""
    offsets = windows.offsets[row]
    inside = offsets[:, 0] >= 0
    if not inside.any():
        return 0, 0
    first, last = offsets[inside][0, 0], offsets[inside][-1, 1]
    if answer_start < first or answer_end > last:
        return 0, 0
    starts = np.where(inside & (offsets[:, 0] <= answer_start) & (offsets[:, 1] > answer_start))[0]
    ends = np.where(inside & (offsets[:, 0] < answer_end) & (offsets[:, 1] >= answer_end))[0]
    if not len(starts):  # the answer starts in white space between tokens: the next token
        starts = np.where(inside & (offsets[:, 0] >= answer_start))[0]
    if not len(ends):
        ends = np.where(inside & (offsets[:, 1] <= answer_end))[0][-1:]
    if not len(starts) or not len(ends) or ends[0] < starts[0]:
        return 0, 0
    return int(starts[0]), int(ends[0])


"""The reader's windows: question + passage -> token windows with a stride, and every answer
mapped back to exact characters (the real MiniLM tokenizer; no model runs)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.answer.reader.decode import SpanChoice, char_span
from rag.answer.reader.folder import encoder_folder
from rag.answer.reader.windows import ReaderTokenizer, answer_positions, build_windows, window_starts
from rag.errors import InputError


@pytest.fixture(scope="module")
def tokenizer() -> ReaderTokenizer:
    return ReaderTokenizer(encoder_folder(None) / "tokenizer.json")


def roundtrip(tokenizer: ReaderTokenizer, passage: str, answer: str, max_length: int = 256,
              stride: int = 96) -> list[str]:
    """The answer as each window holding it gives it back through its token offsets."""
    start = passage.index(answer)
    windows = build_windows(tokenizer, "Which one is it?", [passage], max_length, stride)
    found = []
    for row in range(len(windows)):
        s, e = answer_positions(windows, row, start, start + len(answer))
        if (s, e) != (0, 0):
            a, b = char_span(windows.offsets, SpanChoice(row, s, e, 0.0, 0.0))
            found.append(passage[a:b])
    return found


def test_window_starts_cover_the_passage_with_the_stride() -> None:
    assert window_starts(10, 20, 5) == [0]
    assert window_starts(0, 20, 5) == [0]
    starts = window_starts(100, 40, 10)
    assert starts == [0, 30, 60]  # the last window ends at the passage's end
    assert all(b - a == 30 for a, b in zip(starts, starts[1:]))


def test_a_window_is_cls_question_sep_passage_sep(tokenizer: ReaderTokenizer) -> None:
    w = build_windows(tokenizer, "Who?", ["Ada wrote it."], 96, 8)
    ids = w.input_ids[0][w.attention_mask[0] == 1].tolist()
    assert ids[0] == tokenizer.cls_id and ids[-1] == tokenizer.sep_id and ids.count(tokenizer.sep_id) == 2
    passage_tokens = w.token_type_ids[0] == 1
    assert (w.offsets[0][~passage_tokens] == -1).all() or (w.offsets[0][passage_tokens][:-1] >= 0).all()
    assert w.offsets[0][0].tolist() == [-1, -1]  # [CLS] can never start an answer


def test_answers_map_back_to_exact_characters(tokenizer: ReaderTokenizer) -> None:
    passage = "The Normans (Norman: Nourmands) gave their name to Normandy, a region in France, in 911."
    for answer in ("Normandy", "Nourmands", "911", "a region in France"):
        assert roundtrip(tokenizer, passage, answer) == [answer]


def test_unicode_accents_and_odd_white_space_keep_their_offsets(tokenizer: ReaderTokenizer) -> None:
    passage = "Café  Müller\u00a0opened in Zürich\n\nin 1884 — says Ærøskøbing's «guide»\tbook."
    for answer in ("Zürich", "Müller", "1884", "Ærøskøbing", "«guide»"):
        assert roundtrip(tokenizer, passage, answer) == [answer]


def test_a_span_straddling_two_windows_is_whole_in_the_next(tokenizer: ReaderTokenizer) -> None:
    passage = " ".join(f"word{i}" for i in range(200))
    windows = build_windows(tokenizer, "Which one is it?", [passage], 96, 16)
    assert len(windows) > 3
    first_end = int(windows.offsets[0, :, 1].max())  # where the first window's passage stops
    start = passage.rindex(" ", 0, first_end - 4) + 1  # a few words either side of that end
    end = passage.index(" ", first_end + 8)
    answer = passage[start:end]
    assert answer_positions(windows, 0, start, end) == (0, 0)  # cut: the first window cannot give it
    assert answer_positions(windows, 1, start, end) != (0, 0)
    assert set(roundtrip(tokenizer, passage, answer, 96, 16)) == {answer}


def test_every_window_of_several_passages_knows_its_passage(tokenizer: ReaderTokenizer) -> None:
    passages = ["short one.", " ".join(["long"] * 400), "third."]
    w = build_windows(tokenizer, "q?", passages, 128, 32)
    assert w.passage[0] == 0 and w.passage[-1] == 2 and (np.diff(w.passage) >= 0).all()
    assert (w.passage == 1).sum() >= 3


def test_bad_window_settings_are_clear_errors(tokenizer: ReaderTokenizer) -> None:
    with pytest.raises(InputError, match="max_length"):
        build_windows(tokenizer, "q", ["p"], 60, 8)
    with pytest.raises(InputError, match="stride"):
        build_windows(tokenizer, "q", ["p"], 256, 400)

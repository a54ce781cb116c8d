"""The reader's no-answer rule and its threshold fitting, against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.answer.reader.decode import answers, best_span, char_span
from rag.finetune.calibrate import CalibrationRow
from rag.train_reader.calibrate import fit


def offsets(rows: list[list[tuple[int, int]]]) -> np.ndarray:
    return np.array(rows, dtype=np.int64)


# Two windows of 5 tokens: [CLS], a question token (-1), then three passage tokens.
OFFSETS = offsets([[(-1, -1), (-1, -1), (0, 3), (4, 9), (10, 12)],
                   [(-1, -1), (-1, -1), (0, 5), (6, 8), (9, 14)]])


def test_the_answer_comes_from_the_window_with_the_largest_gap() -> None:
    start = np.array([[0.0, 9.0, 1.0, 2.0, 0.0], [2.0, 9.0, 0.5, 3.0, 0.0]])
    end = np.array([[0.0, 9.0, 0.0, 1.0, 2.5], [2.0, 9.0, 0.0, 0.0, 2.0]])
    choice = best_span(start, end, OFFSETS)
    # window 0: best (3,4) = 2 + 2.5 = 4.5, null 0 -> gap 4.5; window 1: best (3,4) = 3 + 2 = 5.0,
    # null 4 -> gap 1.0. Window 0 wins although window 1 holds the higher span score; the
    # question token (logit 9) never counts.
    assert (choice.window, choice.start_token, choice.end_token) == (0, 3, 4)
    assert choice.score == pytest.approx(4.5) and choice.null == pytest.approx(0.0)
    assert choice.gap == pytest.approx(4.5)
    assert char_span(OFFSETS, choice) == (4, 12)


def test_the_gap_is_against_the_same_windows_null_and_the_threshold_cuts_it() -> None:
    start = np.array([[3.0, 0, 1.0, 0, 0], [-1.0, 0, 0, 0, 0]])
    end = np.array([[2.0, 0, 1.0, 0, 0], [0.5, 0, 0, 0, 0]])
    choice = best_span(start, end, OFFSETS)
    # window 0: span 2, null 5 -> gap -3; window 1: span 0, null -0.5 -> gap 0.5.
    assert choice.window == 1 and choice.null == pytest.approx(-0.5)
    assert choice.score == pytest.approx(0.0) and choice.gap == pytest.approx(0.5)
    assert answers(choice.gap, 0.5) and not answers(choice.gap, 0.6) and answers(choice.gap, None)


def test_an_end_before_its_start_or_too_long_a_span_is_never_chosen() -> None:
    start = np.array([[0.0, 0, 0, 0, 5.0]])
    end = np.array([[0.0, 0, 5.0, 0, 0]])
    choice = best_span(start, end, OFFSETS[:1])
    assert choice.start_token <= choice.end_token
    assert choice.score == pytest.approx(5.0)  # (4, 4): 5 + 0, not (4, 2)
    long_start = np.array([[0.0, 0, 4.0, 0, 0]])
    long_end = np.array([[0.0, 0, 0, 0, 4.0]])
    assert best_span(long_start, long_end, OFFSETS[:1], max_answer_tokens=2).score < 8.0


def test_no_passage_token_gives_minus_infinity() -> None:
    choice = best_span(np.zeros((1, 3)), np.zeros((1, 3)), offsets([[(-1, -1)] * 3]))
    assert math.isinf(choice.gap) and choice.gap < 0


def test_threshold_fitting_maximises_squad2_f1_by_hand() -> None:
    rows = [CalibrationRow(3.0, True, False, 1.0),   # a right answer, confident
            CalibrationRow(1.0, True, False, 0.5),   # half right
            CalibrationRow(0.0, False, False, 0.0),  # unanswerable, the reader found a span
            CalibrationRow(-2.0, False, False, 0.0)]
    fitted = fit(rows)
    # Cuts between gaps: -1 -> (1 + .5 + 0 + 1) / 4 = .625; 0.5 -> (1 + .5 + 1 + 1) / 4 = .875;
    # 2 -> (1 + 0 + 1 + 1) / 4 = .75; no cut -> 1.5 / 4 = .375. Best: 0.5.
    assert fitted["threshold"] == pytest.approx(0.5)
    assert fitted["squad2_f1_with"] == pytest.approx(0.875)
    assert fitted["squad2_f1_without"] == pytest.approx(0.375)
    assert fitted["false_answer_rate_with"] == 0.0 and fitted["answerable_refused_with"] == 0.0


def test_when_answering_everything_is_best_the_cut_lies_below_every_gap() -> None:
    rows = [CalibrationRow(1.0, True, False, 1.0), CalibrationRow(2.0, True, False, 1.0)]
    fitted = fit(rows)
    assert fitted["threshold"] < 1.0 and fitted["squad2_f1_with"] == pytest.approx(1.0)


def test_the_cap_on_answerable_refusals_keeps_the_search_off_refusing_everything() -> None:
    # A weak no-answer score: the right answers and the unanswerables have mixed gaps.
    rows = [CalibrationRow(1.0, True, False, 1.0), CalibrationRow(2.0, True, False, 0.0),
            CalibrationRow(3.0, False, False, 0.0), CalibrationRow(4.0, False, False, 0.0)]
    # Uncapped: refusing all scores (0 + 0 + 1 + 1) / 4 = .5, the best (cut above 4).
    assert fit(rows)["threshold"] > 4.0 and fit(rows)["squad2_f1_with"] == pytest.approx(0.5)
    capped = fit(rows, max_refusal=0.5)
    # At most one answerable refused: the cut at 1.5 gives (0 + 0 + 0 + 0) / 4; no cut gives .25.
    assert capped["answerable_refused_with"] <= 0.5 and capped["squad2_f1_with"] == pytest.approx(0.25)

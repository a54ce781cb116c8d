"""The answer verifier (rag.answer.verify): each feature on hand-made readings, the model read
from a card (a malformed block named), confidence rising with the gap, and AUC, ECE and
risk-coverage against hand-computed cases."""

from __future__ import annotations

import pytest

from rag.answer.verify import Reading, Verifier, VerifierCardError, verification_features
from rag.answer.verify.calibration import auc, expected_calibration_error, reliability, risk_coverage
from rag.answer.verify.features import FEATURES, type_fit
from rag.answer.verify.model import fit_logistic
from rag.types import Chunk, Hit

TEXTS = ("Paul Baran developed packet switching at RAND in 1964. It was later used in ARPANET.",
         "Donald Davies independently described packet switching in 1965 at NPL.",
         "The network was built by BBN. Paul Baran had proposed distributed networks.",
         "Packet switching was first demonstrated in 1968; Paul Baran attended.")


def hits() -> list[Hit]:
    return [Hit(Chunk(f"c{n}", t, "doc.md", None, n, ""), 0.9 - 0.1 * n) for n, t in enumerate(TEXTS)]


def reading(question: str, text: str, passage: int, gap: float = 2.0) -> Reading:
    start = TEXTS[passage].index(text)
    return Reading(question, text, passage, start, start + len(text), gap)


def test_a_span_that_other_chunks_agree_on() -> None:
    f = verification_features(reading("Who developed packet switching at RAND?", "Paul Baran", 0), hits())
    assert f["agreement"] == pytest.approx(2 / 3)  # chunks 3 and 4 also name him
    lone = verification_features(reading("Where did Davies work?", "NPL", 1), hits())
    assert lone["agreement"] == 0.0


def test_a_date_for_a_when_question_and_the_other_shapes() -> None:
    assert verification_features(reading("When did Davies describe it?", "1965", 1), hits())["type_fit"] == 1.0
    assert verification_features(reading("When did Davies describe it?", "NPL", 1), hits())["type_fit"] == 0.0
    assert type_fit("How many packets were sent?", "three") == 1.0
    assert type_fit("Who built the network?", "built by") == 0.0
    assert type_fit("What was the network used for?", "ARPANET") == 0.5


def test_a_span_from_the_fourth_ranked_chunk() -> None:
    f = verification_features(reading("When was packet switching first demonstrated?", "1968", 3), hits())
    assert f["chunk_rank"] == pytest.approx(1 / 4)
    assert f["chunk_score"] == pytest.approx(0.6) and f["below_top"] == pytest.approx(0.3)
    assert f["question_overlap"] == pytest.approx(1.0)  # packet, switching, first, demonstrated
    top = verification_features(reading("Who developed packet switching at RAND?", "Paul Baran", 0), hits())
    assert top["chunk_rank"] == 1.0 and top["below_top"] == 0.0
    assert set(f) == set(FEATURES)


def test_an_answer_echoing_the_question_and_one_in_no_chunk() -> None:
    f = verification_features(reading("What did Paul Baran develop?", "Paul Baran", 0), hits())
    assert f["echoes_question"] == 1.0
    outside = verification_features(Reading("Who?", "nobody", -1, 0, 0, float("-inf")), hits())
    assert outside["chunk_rank"] == 0.0 and outside["gap"] == -20.0


def card_block(**changes: object) -> dict[str, object]:
    block: dict[str, object] = {"features": ["gap", "agreement"], "mean": [1.0, 0.2], "scale": [2.0, 0.5],
                                "weights": [1.5, 0.8], "bias": -0.3, "threshold": 0.4, "label": "f1 >= 0.5"}
    block.update(changes)
    return block


def test_the_model_loads_from_the_card_and_confidence_rises_with_the_gap() -> None:
    v = Verifier.from_card(card_block())
    assert v.confidence({"gap": 1.0, "agreement": 0.2}) == pytest.approx(1 / (1 + 2.718281828 ** 0.3), rel=1e-6)
    values = [v.confidence({"gap": g, "agreement": 0.5}) for g in (-3, 0, 1, 4, 9)]
    assert values == sorted(values) and len(set(values)) == 5
    assert Verifier.from_card(v.to_card()) == Verifier.from_card(card_block())


@pytest.mark.parametrize("change, field", [({"features": []}, "verifier.features"),
                                           ({"features": ["gap", "colour"]}, "unknown features"),
                                           ({"weights": [1.0]}, "verifier.weights"),
                                           ({"scale": [0.0, 1.0]}, "verifier.scale"),
                                           ({"bias": "high"}, "verifier.bias"),
                                           ({"threshold": 1.5}, "verifier.threshold")])
def test_a_malformed_block_names_its_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(VerifierCardError, match=field):
        Verifier.from_card(card_block(**change))
    with pytest.raises(VerifierCardError, match="must be an object"):
        Verifier.from_card([1, 2])


def test_fitting_finds_the_direction_of_the_evidence() -> None:
    rows = [{"gap": g, "agreement": a} for g in range(-5, 6) for a in (0.0, 0.5, 1.0)]
    labels = [r["gap"] + 2 * r["agreement"] > 0.5 for r in rows]
    v = fit_logistic(rows, labels, ("gap", "agreement"))
    assert v.weights[0] > 0 and v.weights[1] > 0
    scores = [v.confidence(r) for r in rows]
    assert auc(scores, labels) > 0.97
    with pytest.raises(ValueError, match="right and wrong"):
        fit_logistic(rows, [True] * len(rows), ("gap",))


def test_auc_ece_and_risk_coverage_by_hand() -> None:
    assert auc([0.9, 0.8, 0.3, 0.1], [True, False, True, False]) == pytest.approx(0.75)
    assert auc([0.5, 0.5], [True, False]) == pytest.approx(0.5)
    assert auc([0.5], [True]) is None
    # Bins: [0.1]: conf 0.1, right 0 (1 answer); [0.8, 0.9]: conf 0.85 and 0.9 (1 each), right 1, 0
    scores, labels = [0.1, 0.85, 0.9], [False, True, False]
    assert reliability(scores, labels) == [(0.1, 0.0, 1), (0.85, 1.0, 1), (0.9, 0.0, 1)]
    assert expected_calibration_error(scores, labels) == pytest.approx((0.1 + 0.15 + 0.9) / 3)
    assert risk_coverage([0.9, 0.8, 0.7, 0.2], [True, True, False, False], (0.5, 1.0)) == {"50%": 1.0, "100%": 0.5}


def test_fit_verifier_fits_on_two_thirds_and_reports_on_the_rest(tmp_path) -> None:
    import random

    from rag.train_reader.verifier import VerifierRow, fit_verifier

    rng = random.Random(0)
    rows = []
    for n in range(300):
        answerable = n % 2 == 0
        gap = rng.gauss(2.0 if answerable else -1.0, 1.0)
        f1 = 1.0 if answerable and gap > 0.5 else 0.0
        features = {name: 0.0 for name in FEATURES} | {"gap": gap}
        rows.append(VerifierRow(features, answerable, True, f1, gap))
    model, report = fit_verifier(rows, seed=0, plot=tmp_path / "reliability.png")
    assert (report["fit_questions"], report["report_questions"]) == (200, 100)
    assert report["auc"] > 0.9 and 0.0 <= model.threshold <= 1.0 and report["ece"] < 0.2
    # Refusing by the fitted confidence scores as the gap rule does when the gap is all there is.
    assert report["squad2_f1_at_threshold"] == pytest.approx(report["squad2_f1_gap_rule"], abs=0.03)
    assert (tmp_path / "reliability.png").stat().st_size > 1000


class _Read:
    """A reader's reading as SpanReader.read gives it (the fields the generated check uses)."""

    def __init__(self, passage: int, text: str, gap: float) -> None:
        self.passage, self.text, self.gap = passage, text, gap
        self.start = TEXTS[passage].index(text) if passage >= 0 else 0
        self.end = self.start + len(text)


def test_a_generated_answer_is_checked_where_it_lies_and_against_the_readers_span() -> None:
    from rag.answer.verify.generated import generated_features

    question = "Who described packet switching at NPL?"
    copied = generated_features(question, "Donald Davies", hits(), _Read(1, "Donald Davies", 3.0))
    assert copied["verbatim"] == 1.0 and copied["reader_f1"] == 1.0
    assert copied["chunk_rank"] == pytest.approx(1 / 2) and copied["gap"] == 3.0  # chunk 2 holds it
    # Written in its own words: placed at the reader's span; "davies" of 2 words each side ("a" is dropped).
    reworded = generated_features(question, "Davies, a researcher", hits(), _Read(1, "Donald Davies", 3.0))
    assert reworded["verbatim"] == 0.0 and reworded["reader_f1"] == pytest.approx(0.5)
    assert reworded["chunk_rank"] == pytest.approx(1 / 2)
    # Against a reader that found nothing to read: no location, no agreement, the lowest gap.
    lost = generated_features(question, "Davies", hits(), _Read(-1, "", float("-inf")))
    assert lost["reader_f1"] == 0.0 and lost["gap"] == -20.0 and lost["verbatim"] == 1.0


def test_generated_answers_carry_the_checks_confidence_and_refusals_none() -> None:
    from rag.answer.generative import GenerativeAnswerer
    from rag.fakes import ExtractiveGenerator

    seen = []

    def check(question: str, text: str, read: tuple[Hit, ...]) -> float:
        seen.append((question, text, len(read)))
        return 0.25

    answerer = GenerativeAnswerer(ExtractiveGenerator(), "{context}\nQuestion: {question}", "I don't know.",
                                  mode="free", check=check)
    draft = _drafted(answerer.draft("Who developed packet switching at RAND?", tuple(hits())))
    assert not draft.refused and draft.confidence == 0.25 and seen[0][1] == draft.text
    refused = _drafted(answerer.draft("Zebra okapi giraffe?", tuple(hits())))
    assert refused.refused and refused.confidence is None and len(seen) == 1
    assert answerer.capped(16).check is check


def test_a_generator_verifier_block_is_read_with_its_own_features_and_named_when_bad() -> None:
    from rag.answer.verify.features import GENERATED_FEATURES

    block = {"features": ["reader_f1"], "mean": [0.0], "scale": [1.0], "weights": [4.0], "bias": -2.0,
             "threshold": 0.5}
    model = Verifier.from_card(block, "card.json", "generator_verifier", GENERATED_FEATURES)
    assert model.confidence({"reader_f1": 1.0}) > 0.85 > 0.15 > model.confidence({"reader_f1": 0.0})
    with pytest.raises(VerifierCardError, match="card.json: verifier.features holds unknown features"):
        Verifier.from_card(block, "card.json")  # the reader's verifier has no reader_f1
    with pytest.raises(VerifierCardError, match="generator_verifier.bias must be a finite number"):
        Verifier.from_card({**block, "bias": None}, "card.json", "generator_verifier", GENERATED_FEATURES)


def _drafted(pieces):  # type: ignore[no-untyped-def]
    while True:
        try:
            next(pieces)
        except StopIteration as done:
            return done.value

"""Synthetic unanswerables by swaps (rag.train_reader.swaps), on hand-made cases with a fake
tagger: a person for another person of the article, a year for another year, an antonym; never a
swap whose new term the paragraph holds; the same swaps under the same seed."""

from __future__ import annotations

from collections.abc import Sequence

from rag.train_reader.examples import SWAP, SquadQuestion
from rag.train_reader.swaps import Mention, candidate_swaps, make_swaps, numeric_mentions

PEOPLE = ("Ada Lovelace", "Charles Babbage", "Mary Somerville", "Augustus De Morgan")


class NameTagger:
    """Tags the people of this article wherever they occur, as PERSON."""

    def tag(self, texts: Sequence[str]) -> list[list[Mention]]:
        return [[Mention(p, "PERSON") for p in PEOPLE if p in t] for t in texts]


def q(id_: str, question: str, context: str, answer: str) -> SquadQuestion:
    return SquadQuestion(id_, "Engines", question, context, ((answer, context.index(answer)),))


P1 = "Ada Lovelace wrote the first published program in 1843 for the Analytical Engine."
P2 = "Charles Babbage designed the Difference Engine in 1822; Mary Somerville introduced them."
P3 = "Augustus De Morgan tutored Ada Lovelace by letter from 1840, the largest course of its kind."
ARTICLE = [q("a", "What did Ada Lovelace write in 1843?", P1, "the first published program"),
           q("b", "What did Charles Babbage design?", P2, "the Difference Engine"),
           q("c", "Who introduced Charles Babbage?", P2, "Mary Somerville"),
           q("d", "Which was the largest course Augustus De Morgan gave by letter?", P3, "Ada Lovelace"),
           q("e", "When did Augustus De Morgan start tutoring by letter?", P3, "1840")]


def swaps_of(question: SquadQuestion, seed: int = 0) -> set[str]:
    from rag.train_reader.swaps import article_pools

    tagged = NameTagger().tag([x.question for x in ARTICLE])
    pool = article_pools(ARTICLE, tagged)["Engines"]
    mentions = NameTagger().tag([question.question])[0]
    return {question.question.replace(old, new, 1) for old, new in candidate_swaps(question, mentions, pool)}


def test_a_person_is_swapped_for_another_person_of_the_article_that_the_paragraph_never_names() -> None:
    got = swaps_of(ARTICLE[0])
    assert "What did Charles Babbage write in 1843?" in got
    assert "What did Augustus De Morgan write in 1843?" in got
    # The question's own person is never swapped for itself.
    assert ARTICLE[0].question not in got and len(got) == len(set(got))


def test_a_year_is_swapped_for_another_year_of_the_article() -> None:
    got = swaps_of(ARTICLE[0])
    assert "What did Ada Lovelace write in 1822?" in got
    assert "What did Ada Lovelace write in 1840?" in got
    assert [(m.text, m.label) for m in numeric_mentions("in 1843, 12 engines, 1,200 parts")] == [
        ("1843", "YEAR"), ("12", "NUMBER"), ("1,200", "NUMBER")]


def test_an_antonym_is_swapped_where_the_paragraph_lacks_it() -> None:
    assert "Which was the smallest course Augustus De Morgan gave by letter?" in swaps_of(ARTICLE[3])


def test_no_swap_leaves_the_new_term_in_the_paragraph() -> None:
    # P2 names both Charles Babbage and Mary Somerville: one is never swapped for the other,
    # and 1822 is never swapped in where P2 already says 1822.
    for s in swaps_of(ARTICLE[1]) | swaps_of(ARTICLE[2]):
        assert "Mary Somerville" not in s or "Charles Babbage" not in s
        assert s != "Who introduced Mary Somerville?"
    for example in make_swaps(ARTICLE, NameTagger(), seed=0):
        new_terms = set(example.question.split()) - set(
            next(x.question for x in ARTICLE if x.id == example.id.split("#")[0]).split())
        assert new_terms and all(term not in example.passage for term in new_terms)
        assert example.kind == SWAP and example.answer_start is None


def test_an_answer_is_never_swapped_out_and_a_name_the_tagger_cut_short_is_left_alone() -> None:
    both = q("g", "Was it Ada Lovelace or Charles Babbage who wrote in 1843?", P1, "Ada Lovelace")
    mentions = NameTagger().tag([both.question])[0]
    edits = candidate_swaps(both, mentions, {"PERSON": list(PEOPLE), "YEAR": ["1822"]})
    # The answer's name is never swapped out; Babbage is not in the paragraph, so not swapped
    # either (the paragraph would not look as if it answered); the year is.
    assert edits == [("1843", "1822")]
    ctx = "Destiny's Child was a group; Ada Lovelace sang in it."
    cut = q("f", "Why is Destiny's Child famous?", ctx, "a group")
    assert candidate_swaps(cut, [Mention("Destiny", "PERSON")], {"PERSON": ["Charles Babbage"]}) == []


def test_the_same_seed_gives_the_same_swaps() -> None:
    one = make_swaps(ARTICLE, NameTagger(), seed=3)
    two = make_swaps(ARTICLE, NameTagger(), seed=3)
    assert [e.question for e in one] == [e.question for e in two] and one
    others = {tuple(e.question for e in make_swaps(ARTICLE, NameTagger(), seed=s)) for s in range(6)}
    assert len(others) > 1

"""Switching the LoRA adapter off per question (the page's adapter setting), with the real
SmolLM2 and the packaged adapter: the base model's answer, the adapter still on for everyone
else, even after an abandoned stream; an unmerged adapter shares the weights in memory, a
merged one (the default) loads the base weights (ONNX: the base graph) once beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Pipeline

pytestmark = pytest.mark.integration
DOC = ("Starting in 1965, Donald Davies at the National Physical Laboratory, UK, independently developed "
       "the same message routing methodology as developed by Baran. He called it packet switching.")
MESSAGES = [{"role": "user", "content": f'<doc id="1" source="a.md">\n{DOC}\n</doc>\n\n'
                                         "Question: Who called it packet switching?"}]


def test_the_adapter_switched_off_answers_as_the_base_model_and_stays_on_for_others(
        demo_index: Path, minilm, smollm) -> None:
    p = Pipeline(index=demo_index, embedder=minilm, **{"generator.merge_adapter": False})
    off = p.variant(adapter=False)
    assert off.generator().model is p.generator().model and off.embedder() is p.embedder()  # nothing loaded twice
    assert p.ask_options()["adapter_switchable"] and p.generator().can_disable_adapter
    base = smollm.generate(MESSAGES, 24).text  # a separately loaded model without adapter
    adapted = p.generator().generate(MESSAGES, 24).text
    assert adapted != base
    assert off.generator().generate(MESSAGES, 24).text == base
    abandoned = iter(off.generator().stream(MESSAGES, 24))
    next(abandoned)
    abandoned.close()  # a client that left mid-answer
    assert p.generator().generate(MESSAGES, 24).text == adapted
    assert off.config.generator.adapter is None and p.config.generator.adapter == "squad2-grounded"
    answer = off.ask("Who invented packet switching?")
    assert answer.sources and answer.sources[0].source.endswith(".md")


@pytest.mark.parametrize(("backend", "weights"), [("onnx", "runner"), ("torch", "model")])
def test_a_merged_adapter_switched_off_answers_from_one_shared_copy_of_the_base_weights(
        demo_index: Path, minilm, smollm, backend: str, weights: str) -> None:
    # The default merges the adapter; ONNX Runtime runs the base graph, PyTorch the base weights.
    p = Pipeline(index=demo_index, embedder=minilm, **{"generator.backend": backend})
    assert p.generator().merged and p.ask_options()["adapter_switchable"]
    adapted = p.generator().generate(MESSAGES, 24).text
    off, off_again = p.variant(adapter=False), p.variant(adapter=False, retrieval="dense")
    assert getattr(off.generator(), weights) is not getattr(p.generator(), weights)
    assert getattr(off_again.generator(), weights) is getattr(off.generator(), weights)  # loaded once
    assert off.generator().generate(MESSAGES, 24).text == smollm.generate(MESSAGES, 24).text != adapted
    assert p.generator().generate(MESSAGES, 24).text == adapted
    assert not off.generator().can_disable_adapter


def test_no_adapter_cannot_be_switched_off(demo_index: Path, minilm) -> None:
    bare = Pipeline(index=demo_index, embedder=minilm, **{"generator.adapter": "none"})
    assert bare.ask_options()["adapter_switchable"] is False
    assert bare.variant(adapter=False) is bare  # nothing to switch off: the same pipeline

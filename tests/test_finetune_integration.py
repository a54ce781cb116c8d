"""Fine-tuning and extractive decoding with the real SmolLM2 (and MiniLM, Chroma for `finetune`).

Kept small: short prompts, a handful of examples, a few optimizer steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rag import Pipeline
from rag.config import RagConfig, apply_options
from rag.finetune import FinetuneRun, TrainSettings, finetune
from rag.finetune.examples import Example
from rag.finetune.train import Trainer, answer_loss, collate, lora_model, tokenize
from rag.generator import TransformersGenerator
from rag.generator.base import Decoding, StreamReport

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO = Path(__file__).resolve().parent.parent / "corpora" / "wiki-demo"
REFUSAL = "I don't know."


def short_example(doc: str, question: str, target: str, kind: str = "span") -> Example:
    content = f'<doc id="1" source="a.md">\n{doc}\n</doc>\n\nQuestion: {question}'
    return Example(question, kind, ({"role": "user", "content": content},), target)


EXAMPLES = [short_example("Bees turn nectar into honey inside the hive.", "What do bees make?", "honey"),
            short_example("Owls hunt mice at night.", "When do owls hunt?", "at night"),
            short_example("Owls hunt mice at night.", "What is the capital of Peru?", REFUSAL, "refusal"),
            short_example("Steam engines burn coal.", "What do steam engines burn?", "coal")]
SETTINGS = TrainSettings(r=4, alpha=8, dropout=0.0, lr=3e-3, epochs=2, batch_size=2, grad_accum=1,
                         save_every=1, warmup_ratio=0.0)


def trainer_for(work: Path) -> tuple[Trainer, list[tuple[list[int], list[int]]]]:
    generator = TransformersGenerator()  # a fresh base: LoRA layers are injected in place
    rows = [tokenize(e, generator.tokenizer) for e in EXAMPLES]
    return Trainer(lora_model(generator.model, SETTINGS), rows, SETTINGS, work, generator.tokenizer.eos_token_id), rows


def test_loss_is_on_the_answer_tokens_only() -> None:
    generator = TransformersGenerator()
    ids, labels = tokenize(EXAMPLES[0], generator.tokenizer)
    answer = [t for t in labels if t != -100]
    assert generator.tokenizer.decode(answer) == " honey<|im_end|>"
    assert ids[-len(answer):] == answer and len(ids) == len(labels)


def test_a_tiny_run_lowers_the_loss_and_writes_an_adapter_pipeline_loads(tmp_path: Path) -> None:
    trainer, rows = trainer_for(tmp_path / "work")
    batch = collate(rows, trainer.pad_id)
    with torch.no_grad():
        before = float(answer_loss(trainer.model, batch)[0])
    result = trainer.train(progress=False)
    with torch.no_grad():
        trainer.model.eval()
        after = float(answer_loss(trainer.model, batch)[0])
    assert result.steps == 4 and after < before * 0.8, (before, after)
    trainer.model.save_pretrained(str(tmp_path / "adapter"))
    torch_engine = {"generator.backend": "torch"}  # a throwaway adapter: no ONNX export (test_onnx_integration)
    loaded = Pipeline(index=tmp_path / "none", adapter=str(tmp_path / "adapter"), **torch_engine).generator()
    assert loaded.adapter == str(tmp_path / "adapter")
    assert loaded.generate(list(EXAMPLES[0].messages), 8).text  # it runs


def test_resume_continues_the_step_count_and_the_same_losses(tmp_path: Path) -> None:
    first, _ = trainer_for(tmp_path / "work")
    full = first.train(progress=False)
    checkpoints = sorted((tmp_path / "work" / "checkpoints").glob("step-*"))
    assert [c.name for c in checkpoints] == ["step-000003", "step-000004"]  # the newest two are kept
    import shutil

    shutil.rmtree(checkpoints[-1])  # as if killed after step 3
    second, _ = trainer_for(tmp_path / "work")
    assert second.resume() == 3 and second.losses == full.losses[:3]
    resumed = second.train(progress=False)
    assert resumed.steps == 4 and resumed.losses[3] == pytest.approx(full.losses[3], rel=1e-3)


def test_extractive_decoding_only_emits_a_chunk_substring_or_the_refusal(smollm) -> None:
    paragraphs = [p.strip() for f in sorted(DEMO.glob("*.md")) for p in f.read_text().split("\n\n")
                  if len(p.split()) > 25][:24]
    questions = ["What is it about?", "Who invented it?", "When did it happen?", "What is the capital of Peru?"]
    emitted = set()
    for number, paragraph in enumerate(paragraphs):
        spans = (paragraph[:400], paragraphs[(number + 1) % len(paragraphs)][:400])
        content = "\n\n".join(f'<doc id="{i + 1}">\n{s}\n</doc>' for i, s in enumerate(spans))
        messages = [{"role": "user", "content": f"{content}\n\nQuestion: {questions[number % 4]}"}]
        stats = StreamReport()
        text = "".join(smollm.stream(messages, 24, stats, Decoding(spans, REFUSAL))).strip()
        emitted.add(text)
        if text == REFUSAL and stats.span is None:
            continue
        index, start, end = stats.span
        assert text and text == spans[index][start:end].strip(), (text, stats.span)
    assert len(emitted) > 5  # many different spans, not one canned output


def test_finetune_end_to_end_writes_card_and_calibrates_on_training_questions(tmp_path: Path) -> None:
    config = apply_options(RagConfig(), {"retrieval.k": 1, "generator.max_new_tokens": 16})
    out = tmp_path / "adapter"
    card = finetune(FinetuneRun(data=(str(FIXTURES / "tiny_squad.json"),), out=str(out),
                                exclude_articles=("Normans",), limit=4, calibration=4,
                                settings=TrainSettings(r=4, alpha=8, max_steps=1, batch_size=2, grad_accum=2),
                                config=config, command="test", progress=False))
    assert (out / "adapter_model.safetensors").is_file() and json.loads((out / "card.json").read_text()) == card
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "SmolLM2-135M-Instruct"
    assert card["examples"]["total"] == 4 and card["steps"] == 1 and card["split"]["exclude_articles"] == ["Normans"]
    assert set(card["refusal_thresholds"]) == {"free", "extractive"} and card["retrieval"]["k"] == 1
    assert "Command: `test`" in (out / "README.md").read_text() and card["tokens_per_s"] > 0
    examples = {json.loads(line)["id"] for line in (out / ".work" / "examples.jsonl").read_text().splitlines()}
    calibration = json.loads((out / ".work" / "calibration_questions.json").read_text())
    assert len(calibration) == 4 and {q["article"] for q in calibration} == {"Packet_switching"}
    assert not examples & {q["id"] for q in calibration}
    assert sorted(p.name for p in (out / ".work" / "docs").iterdir()) == ["Packet_switching.md"]
    # The adapter and its card's threshold are what a Pipeline with this adapter uses.
    p = Pipeline(index=out / ".work" / "index", adapter=str(out), config=config, engine="generator")
    assert p.refusal_threshold() == card["refusal_thresholds"]["free"]
    # Recalibrating refits the thresholds without training: the weights and training record stay.
    weights = (out / "adapter_model.safetensors").read_bytes()
    again = finetune(FinetuneRun(data=(str(FIXTURES / "tiny_squad.json"),), out=str(out), exclude_articles=("Normans",),
                                 limit=4, calibration=4, max_refusal=0.0, recalibrate=True, config=config,
                                 settings=TrainSettings(r=4, alpha=8, max_steps=1, batch_size=2, grad_accum=2),
                                 command="again", progress=False))
    assert (out / "adapter_model.safetensors").read_bytes() == weights and again["losses"] == card["losses"]
    assert again["recalibrated_by"] == "again" and again["calibration"]["free"]["max_refusal"] == 0.0
    fitted = again["calibration"]["free"]
    assert fitted["threshold"] is None or fitted["answerable_refused_with"] == 0.0  # the cap holds


def test_cli_ask_extractive_marks_the_span_in_its_sentence(demo_index: Path) -> None:
    import subprocess
    import sys

    args = [sys.executable, "-m", "rag.cli", "ask", "What do B cells produce?", "--index", str(demo_index),
            "--engine", "generator", "--adapter", "none", "--mode", "extractive", "--max-new-tokens", "8",
            "--min-support", "none"]
    result = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"margin", "span"} <= set(out) and isinstance(out["margin"], float)
    assert not out["refused"]  # the base model copies the opening of a block
    span = out["span"]
    assert out["answer"] in span["sentence"] and out["cited"] == [span["block"]]
    shown = subprocess.run([*args, "--no-stream"], capture_output=True, text=True, timeout=600)
    assert f"From [{span['block']}]: " in shown.stdout and f"«{out['answer']}»" in shown.stdout


def test_the_generator_engine_answers_with_the_packaged_adapter(demo_index: Path, minilm) -> None:
    p = Pipeline(index=demo_index, embedder=minilm, engine="generator")
    assert p.generator().adapter.endswith("squad2-grounded")
    answer = p.ask("Who invented packet switching?")  # the demo's question
    assert answer.text == "Donald Davies" and not answer.refused  # a short span, not a sentence
    assert answer.span is not None and answer.sources[answer.span.block - 1].source == "wiki-demo/Packet_switching.md"
    assert "«Donald Davies»" in answer.span.marked()
    assert p.ask("What is the capital of Peru?").refused  # the demo corpus says nothing of Peru

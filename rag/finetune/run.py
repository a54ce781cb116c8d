"""`rag finetune` from end to end: split, index, examples, training, calibration, card.

    from rag.finetune import FinetuneRun, finetune
    card = finetune(FinetuneRun(data=("train10.json",), out="adapters/mine", limit=200))
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.adapters import read_card, write_card
from rag.config import RagConfig
from rag.datasets import EvalItem, EvalSet, load_dataset, sample
from rag.errors import ConfigError, InputError
from rag.finetune.calibrate import CalibrationRow, answerable_refusal_rate, fit_threshold
from rag.finetune.card import make_card, readme
from rag.finetune.examples import build_examples, kind_counts, read_examples, write_examples
from rag.finetune.train import Trainer, TrainSettings, lora_model, tokenize
from rag.generator import TransformersGenerator
from rag.generator.model_files import attach_adapter
from rag.pipeline import Pipeline

log = logging.getLogger(__name__)
MODES = ("free", "extractive")


@dataclass(frozen=True)
class FinetuneRun:
    """What to train on and where to write it.

    Attributes:
        data: SQuAD 2.0 .json or JSONL files (JSONL needs `docs` or `index`).
        out: the adapter folder written (adapter weights, card.json); `out/.work` keeps the
            index, examples and checkpoints.
        articles / exclude_articles: the training split (names as in the data).
        limit: training examples; calibration: questions for the refusal threshold, drawn from
            the same split but never from the examples.
        index: an index to use instead of building `out/.work/index` from the split's documents.
        resume: continue from the newest checkpoint in `out/.work`.
        command: the command line, recorded in the card.
    """

    data: tuple[str, ...]
    out: str
    articles: tuple[str, ...] = ()
    exclude_articles: tuple[str, ...] = ()
    limit: int = 200
    calibration: int = 100
    docs: str | None = None
    index: str | None = None
    resume: bool = False
    settings: TrainSettings = field(default_factory=TrainSettings)
    config: RagConfig = field(default_factory=RagConfig)
    command: str = ""
    progress: bool = True
    max_refusal: float = 0.25  # the threshold may refuse at most this share of answerable questions
    recalibrate: bool = False  # refit the thresholds of the adapter in `out`, no training


def load_split(run: FinetuneRun) -> tuple[list[EvalItem], list[dict[str, Any]]]:
    """The questions of the split, and the SQuAD articles whose documents form its index."""
    if not run.data:
        raise InputError("finetune needs at least one --data file")
    sets: list[EvalSet] = [load_dataset(path, run.docs) for path in run.data]
    items = [i for s in sets for i in s.items]
    pool = sample(items, None, run.settings.seed, run.articles, run.exclude_articles)
    kept = {i.article for i in pool}
    articles = [a for s in sets for a in s.articles if a["title"] in kept]
    if not pool:
        raise InputError("no training questions left after the article filters")
    return pool, articles


def build_index(run: FinetuneRun, work: Path, articles: list[dict[str, Any]]) -> Pipeline:
    """A Pipeline over the split's own documents only (no measured article leaks in)."""
    # Training starts from the base model, on PyTorch (it needs gradients).
    base_model: dict[str, Any] = {"generator.adapter": None, "generator.backend": "torch",
                                  "answer.engine": "generator"}  # an adapter is for the generator engine
    if run.index is not None:
        return Pipeline(index=run.index, config=run.config, min_support=None, **base_model)
    pipeline = Pipeline(index=work / "index", config=run.config, min_support=None, **base_model)
    if articles:
        docs = EvalSet((), tuple(articles)).write_documents(work / "docs")
    elif run.docs is not None:
        docs = Path(run.docs)
    else:
        raise InputError("a JSONL dataset needs --docs DIR (to ingest) or --index PATH (built)")
    pipeline.ingest(docs, progress=run.progress)
    return pipeline


def calibrate(pipeline: Pipeline, generator: Any, items: list[EvalItem], mode: str,
              progress: bool, max_refusal: float) -> dict[str, Any]:
    """Ask the calibration questions with the trained adapter and fit the threshold for `mode`."""
    from rag.answer.match import f1_score

    options: dict[str, Any] = {"answer.mode": mode, "answer.calibrated_refusal": False, "answer.engine": "generator"}
    asker = Pipeline(config=pipeline.config, embedder=pipeline.embedder(pipeline.store()),
                     store=pipeline.store(), generator=generator, min_support=None, **options)
    chain = asker.chain()
    rows = []
    for item in tqdm(items, desc=f"calibrate ({mode})", unit="q", disable=not progress):
        answer = chain.ask(item.question)
        answerable = bool(item.answerable and item.answers)
        rows.append(CalibrationRow(answer.margin, answerable, answer.refused,
                                   0.0 if answer.refused or not answerable else f1_score(answer.text, item.answers)))
    threshold, fitted, baseline = fit_threshold(rows, max_refusal)
    return {"threshold": threshold, "squad2_f1_with": round(fitted, 4), "squad2_f1_without": round(baseline, 4),
            "answerable_refused_with": round(answerable_refusal_rate(rows, threshold), 4),
            "answerable_refused_without": round(answerable_refusal_rate(rows, None), 4),
            "unanswerable_refused_without": round(sum(r.refused for r in rows if not r.answerable)
                                                  / max(1, sum(not r.answerable for r in rows)), 4),
            "max_refusal": max_refusal, "n": len(rows), "n_answerable": sum(r.answerable for r in rows)}


def calibration_items(pool: list[EvalItem], used: set[str], n: int, seed: int) -> list[EvalItem]:
    """Split questions never made into examples, half unanswerable where the split allows."""
    rest = [i for i in pool if i.id not in used]
    return sample(rest, n, seed + 1) if n > 0 and rest else []


def calibrate_modes(run: FinetuneRun, pipeline: Pipeline, generator: Any, pool: list[EvalItem],
                    examples: list[Any], work: Path) -> dict[str, Any]:
    """Fit each answer mode's threshold on split questions that were not training examples."""
    held_back = calibration_items(pool, {e.id for e in examples}, run.calibration, run.settings.seed)
    (work / "calibration_questions.json").write_text(json.dumps(
        [{"id": i.id, "article": i.article, "answerable": i.answerable} for i in held_back]), encoding="utf-8")
    if not held_back:
        return {}
    return {mode: calibrate(pipeline, generator, held_back, mode, run.progress, run.max_refusal) for mode in MODES}


def recalibrate(run: FinetuneRun, pipeline: Pipeline, pool: list[EvalItem], examples: list[Any],
                work: Path) -> dict[str, Any]:
    """Refit the thresholds of the adapter already in `run.out`; the card keeps how it was trained.

    Raises:
        InputError: no adapter with a card in `run.out`.
    """
    card = read_card(run.out)
    if not card or not (Path(run.out) / "adapter_config.json").is_file():
        raise InputError(f"--recalibrate needs an adapter made by rag finetune in {run.out!r}")
    generator = Pipeline(config=pipeline.config, adapter=str(run.out)).generator()
    calibration = calibrate_modes(run, pipeline, generator, pool, examples, work)
    thresholds = {mode: c["threshold"] for mode, c in calibration.items()}
    card.update(calibration=calibration, refusal_thresholds=thresholds,
                refusal_threshold=thresholds.get(pipeline.config.answer.mode),
                recalibrated_by=run.command or " ".join(sys.argv))
    write_card(run.out, card)
    (Path(run.out) / "README.md").write_text(readme(card), encoding="utf-8")
    return card


def _trainable(generator: TransformersGenerator, settings: TrainSettings) -> tuple[Any, Any]:
    """(the peft model to train, its optimizer class): LoRA on the loaded base, or QLoRA on the
    same weights loaded again in 4 bits."""
    if not settings.qlora:
        return lora_model(generator.model, settings), None
    from rag.finetune.qlora import optimizer_class, quantized_base

    model = lora_model(quantized_base(generator.model_folder), settings)
    return model, optimizer_class(model)


def finetune(run: FinetuneRun) -> dict[str, Any]:
    """Build examples through the pipeline, train LoRA, fit the refusal threshold, write the card.

    Returns:
        The card (also written to `run.out/card.json`).

    Raises:
        InputError: missing data, unknown article, an empty split.
    """
    started = time.perf_counter()
    out = Path(run.out)
    work = out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    # 1. The split: its questions and its documents, indexed on their own.
    pool, articles = load_split(run)
    pipeline = build_index(run, work, articles)
    # 2. Examples through the same retriever, k and prompt builder as `ask` (kept for --resume).
    examples_file = work / "examples.jsonl"
    if run.recalibrate and not (out / "adapter_config.json").is_file():
        raise InputError(f"--recalibrate needs an adapter made by rag finetune in {run.out!r}")
    if (run.resume or run.recalibrate) and examples_file.is_file():
        examples = read_examples(examples_file)
    else:
        examples = build_examples(pool, pipeline.chain(), run.limit, run.settings.seed, progress=run.progress)
        write_examples(examples, examples_file)
    counts = kind_counts(examples)
    log.warning("examples: %s", counts)
    if run.recalibrate:
        return recalibrate(run, pipeline, pool, examples, work)
    # 3. Train LoRA weights on the base model.
    generator = pipeline.generator()
    if not isinstance(generator, TransformersGenerator):
        raise ConfigError(f"rag finetune trains the local PyTorch generator; got {type(generator).__name__} "
                          "(generator.endpoint must be unset)")
    rows = [tokenize(e, generator.tokenizer) for e in examples]
    model, optimizer = _trainable(generator, run.settings)
    # Name the base as configured, not by this machine's cache path.
    model.peft_config["default"].base_model_name_or_path = pipeline.config.generator.model
    trainer = Trainer(model, rows, run.settings, work, generator.tokenizer.pad_token_id
                      or generator.tokenizer.eos_token_id, optimizer)
    if run.resume:
        trainer.resume()
    result = trainer.train(progress=run.progress)
    model.save_pretrained(str(out))
    # 4. Calibrate the refusal threshold per answer mode on held-back split questions, with the
    #    adapter on the full-precision base, where it will serve (a QLoRA one too).
    generator.model = model if not run.settings.qlora else attach_adapter(generator.model, str(out), False,
                                                                         pipeline.config.generator.model)
    generator.adapter = str(out)
    calibration = calibrate_modes(run, pipeline, generator, pool, examples, work)
    # 5. The card: how it was made, and the thresholds `ask` will use.
    card = make_card(run, counts, result, calibration, [len(r[0]) for r in rows],
                     time.perf_counter() - started, pipeline.config)
    write_card(out, card)
    (out / "README.md").write_text(readme(card), encoding="utf-8")  # replaces peft's empty template
    return card

"""The evaluation run: build or reuse the index, ask every sampled question through the same
`Pipeline` users call, once per variant, append rows to answers.jsonl (resumable), report.

Variants: `default`, `closed-book` (no retrieval), or `key=value` setting any pipeline option
(`k=8`, `engine=generator`, `adapter=PATH`, `generator.max_new_tokens=64`), several joined with
`+`. With `gold_paragraph`, each question is read against its own SQuAD paragraph instead of
what retrieval finds (the setting of the published SQuAD 2.0 figures).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from rag.answer.groundedness import GroundednessScorer, LexicalEmbeddingScorer
from rag.chain import RagChain
from rag.config import RagConfig, apply_options
from rag.datasets import EvalItem, EvalSet, load_dataset, sample
from rag.errors import InputError
from rag.eval.run import EvalRun, gold_hit, gold_threshold, parse_variant, read_rows
from rag.eval.scoring import aggregate, score_row
from rag.pipeline import Pipeline
from rag.types import Answer

log = logging.getLogger(__name__)
__all__ = ["FULL_TEXT", "EvalRun", "Harness", "gold_hit", "gold_threshold", "parse_variant", "read_rows"]
FULL_TEXT = 1_000_000  # snippet_chars for eval: sources carry their whole chunk text


class Harness:
    """Runs an EvalRun. `embedder` / `generator_factory` / `reader` (the checker of
    `reader_check`) replace the real models (tests)."""

    def __init__(self, run: EvalRun, config: RagConfig | None = None, embedder: Any = None,
                 generator_factory: Callable[[RagConfig], Any] | None = None,
                 scorer: GroundednessScorer | None = None, reader: Any = None) -> None:
        self.run = run
        self.base = Pipeline(index=run.index or run.out / "index", config=config or RagConfig(),
                             embedder=embedder, **{**run.options, "prompt.snippet_chars": FULL_TEXT})
        self.generator_factory = generator_factory
        self._generators: dict[tuple[Any, ...], Any] = {}
        self._readers: dict[str, Any] = {"check": reader} if reader is not None else {}
        self._scorer = scorer

    # 1. Documents and index.
    def build_index(self, dataset: EvalSet) -> dict[str, Any]:
        out = self.run.out
        record = out / "index_build.json"
        docs = dataset.write_documents(out / "docs") if dataset.articles else dataset.docs
        if docs is None:
            if self.run.index is None:
                raise InputError("a JSONL dataset needs --docs DIR (to ingest) or --index PATH (built)")
            self.base.store()  # must exist
        else:
            report = self.base.ingest(docs, progress=self.run.progress)
            if report.chunks_upserted or not record.is_file():
                info = {"seconds": report.seconds, "chunks": self.base.store().count(),
                        "files": report.files_seen, "files_failed": report.files_failed}
                record.write_text(json.dumps(info, indent=2), encoding="utf-8")
        if record.is_file():
            return dict(json.loads(record.read_text(encoding="utf-8")))
        return {"seconds": None, "chunks": self.base.store().count()}

    # 2. One pipeline per variant, sharing the embedder, the store and equal generators.
    def pipeline(self, variant: str) -> tuple[Pipeline, bool]:
        closed_book, options = parse_variant(variant)
        config = apply_options(self.base.config, options)
        if self.run.gold_paragraph and config.answer.engine == "reader" and config.answer.refusal_threshold is None:
            config = apply_options(config, {"answer.refusal_threshold": gold_threshold(config)})
        # Variants whose generators load alike share one (max_new_tokens is given per answer);
        # the reader engine needs none (but closed-book always generates).
        key = tuple(getattr(config.generator, f.name) for f in dataclasses.fields(config.generator)
                    if f.name != "max_new_tokens")
        generates = config.answer.engine == "generator" or closed_book
        if key not in self._generators and not self.run.retrieval_only and generates:
            factory = self.generator_factory or (lambda c: Pipeline(config=c).generator())
            self._generators[key] = factory(config)
        if config.answer.reader not in self._readers and config.answer.engine == "reader" \
                and not self.run.retrieval_only:
            self._readers[config.answer.reader] = Pipeline(config=config).reader()
        store = self.base.store()
        return Pipeline(config=config, embedder=self.base.embedder(store), store=store,
                        generator=self._generators.get(key), reader=self._readers.get(config.answer.reader)), closed_book

    def checker(self) -> Any:
        """The reader that checks generated answers (the configured one), loaded once."""
        if "check" not in self._readers:
            self._readers["check"] = Pipeline(config=self.base.config).reader()
        return self._readers["check"]

    @property
    def scorer(self) -> GroundednessScorer:
        if self._scorer is None:
            self._scorer = LexicalEmbeddingScorer(self.base.embedder(self.base.store()))
        return self._scorer

    # 3. Ask, score, append.
    def ask_all(self, variant: str, items: list[EvalItem], done: set[tuple[str, str]],
                rows: list[dict[str, Any]], sink: Any) -> None:
        todo = [i for i in items if (variant, i.id) not in done]
        if not todo:
            return
        pipeline, closed_book = self.pipeline(variant)
        chain = pipeline.chain(closed_book=closed_book, support=self.scorer)  # one scorer: each answer scored once
        mine = [r for r in rows if r["variant"] == variant]
        bar = tqdm(todo, desc=f"{variant}", unit="q", disable=not self.run.progress)
        for done_here, item in enumerate(bar, start=1):
            answer = self.answer(chain, item)
            # The answer as `rag ask --json` gives it, its sources without their (whole) texts.
            shown = answer.to_dict()
            shown["sources"] = [{key: value for key, value in s.to_dict().items()
                                 if key in ("source", "page", "chunk_id", "score")} for s in answer.sources]
            row: dict[str, Any] = {"variant": variant, "id": item.id, "question": item.question, "article": item.article,
                   "answerable": item.answerable, "gold": list(item.answers), **shown,
                   "scores": score_row(item, answer, self.scorer)}
            if self.run.reader_check and answer.engine == "generator" and not answer.refused:
                from rag.eval.reader_check import reader_support

                texts = [s.snippet for s in answer.sources]  # whole chunk texts in eval (FULL_TEXT)
                row["scores"]["reader_support"] = reader_support(self.checker(), item.question, answer.text, texts)
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            sink.flush()
            rows.append(row)
            mine.append(row)
            bar.set_postfix(_running(mine), refresh=False)
            if self.run.progress_lines and not self.run.progress and _milestone(done_here, len(todo)):
                running = " ".join(f"{k}={v}" for k, v in _running(mine).items())
                print(f"{variant}: {done_here}/{len(todo)} {running}", file=sys.stderr, flush=True)

    def answer(self, chain: RagChain, item: EvalItem) -> Answer:
        """The chain's answer to one item: retrieved, its retrieval alone, or read against its
        own paragraph (gold-paragraph mode, the setting of the published SQuAD 2.0 figures)."""
        if self.run.retrieval_only:
            return chain.retrieve_only(item.question)
        if self.run.gold_paragraph:
            return chain.ask_passages(item.question, (gold_hit(item),))
        return chain.ask(item.question)

    def execute(self) -> dict[str, Any]:
        """Run everything; returns the report dict (also written to OUT/report.json)."""
        from rag.eval.report import write_reports

        started = time.perf_counter()
        self.run.out.mkdir(parents=True, exist_ok=True)
        for variant in self.run.variants:
            parse_variant(variant)  # fail on a bad name before any work
        dataset = load_dataset(self.run.data, self.run.docs)
        items = sample(dataset.items, self.run.limit, self.run.seed, self.run.articles,
                       self.run.exclude_articles)
        if not items:
            raise InputError("no questions to evaluate after sampling and article filters")
        if self.run.gold_paragraph and not all(i.gold_context for i in items):
            raise InputError("--gold-paragraph needs SQuAD data: every question must carry its paragraph")
        index = self.build_index(dataset)
        path = self.run.out / "answers.jsonl"
        wanted = {i.id for i in items}
        rows = [r for r in read_rows(path) if r["variant"] in self.run.variants and r["id"] in wanted]
        done = {(r["variant"], r["id"]) for r in rows}
        with path.open("a", encoding="utf-8") as sink:
            for variant in self.run.variants:
                self.ask_all(variant, items, done, rows, sink)
        report = {"variants": {v: aggregate([r for r in rows if r["variant"] == v], self.run.threshold, index,
                                            self.run.retrieval_only) for v in self.run.variants},
                  "run": {"data": str(self.run.data), "limit": self.run.limit, "seed": self.run.seed,
                          "retrieval_only": self.run.retrieval_only, "gold_paragraph": self.run.gold_paragraph,
                          "n_sampled": len(items), "options": self.run.options,
                          "seconds": round(time.perf_counter() - started, 1)}}
        write_reports(report, rows, self.run.out)
        return report


def _milestone(done: int, total: int) -> bool:
    return done == total or done % max(1, total // 10) == 0


def _running(rows: list[dict[str, Any]]) -> dict[str, str]:
    if rows and rows[-1]["reason"] == "retrieval only":
        judged = [r for r in rows if r["answerable"] and r["sources"]]
        recall = sum(r["scores"]["rank"] is not None for r in judged) / len(judged) if judged else 0.0
        return {"recall": f"{recall:.2f}"}
    f1 = [r["scores"]["f1"] for r in rows if "f1" in r["scores"]]
    unanswerable = [r for r in rows if r["answerable"] is False]
    shown = {"f1": f"{sum(f1) / len(f1):.2f}" if f1 else "-"}
    if unanswerable:
        shown["false_ans"] = f"{sum(not r['refused'] for r in unanswerable) / len(unanswerable):.2f}"
    return shown

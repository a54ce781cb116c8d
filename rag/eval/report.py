"""Write report.json, report.md (one comparison table) and PNG plots comparing variants."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.eval.scoring import CORRECT_F1, STAGES, is_correct

TABLE = [("retrieval", "recall_at_k"), ("retrieval", "mrr"), ("retrieval", "ndcg_at_k"),
         ("answer", "squad2_f1"), ("answer", "squad2_exact"), ("answer", "has_ans_f1"),
         ("answer", "no_ans_accuracy"), ("answer", "exact"), ("answer", "f1"), ("answer", "contains_gold"), ("answer", "refusal_rate"),
         ("hallucination", "false_answer_rate"), ("hallucination", "unsupported_rate"),
         ("hallucination", "hallucination_rate"), ("hallucination", "detector_auc"),
         ("hallucination", "reader_detector_auc"), ("confidence", "confidence_auc"), ("confidence", "ece")]
COVERAGES = ("50%", "70%", "90%")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def comparison_rows(report: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The comparison table of a report.json: (metric, formatted value per variant) rows."""
    variants = report["variants"]
    names = list(variants)
    rows = [(f"{section}.{key}", [_fmt(variants[n].get(section, {}).get(key)) for n in names]) for section, key in TABLE]
    for stage in (*STAGES, "time_to_first_token"):
        for stat in ("p50", "p95"):
            rows.append((f"latency.{stage} {stat} (s)", [_fmt(variants[n]["latency"][stage][stat])
                                                         for n in names]))
    for share in COVERAGES:
        rows.append((f"confidence.accuracy at {share} coverage",
                     [_fmt(variants[n].get("confidence", {}).get("risk_coverage", {}).get(share)) for n in names]))
        rows.append((f"confidence.cut for {share} coverage",
                     [_fmt(variants[n].get("confidence", {}).get("coverage_cut", {}).get(share)) for n in names]))
    rows.append(("latency.tokens_per_s", [_fmt(variants[n]["latency"]["tokens_per_s"]) for n in names]))
    rows.append(("questions", [str(variants[n]["n_questions"]) for n in names]))
    rows.insert(0, ("engine", [str(variants[n].get("engine") or "n/a") for n in names]))
    return rows


def markdown(report: dict[str, Any]) -> str:
    variants = report["variants"]
    names = list(variants)
    lines = ["# Evaluation report", "",
             f"Data: `{report['run']['data']}`, {report['run']['n_sampled']} questions "
             f"(limit {report['run']['limit']}, seed {report['run']['seed']})"
             + ("; each read against its own paragraph (gold-paragraph mode, no retrieval)."
                if report["run"].get("gold_paragraph") else "."), "",
             "| metric | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    lines += [f"| {label} | " + " | ".join(values) + " |" for label, values in comparison_rows(report)]
    first = variants[names[0]]["latency"]
    lines += ["", f"Index: {first['index_chunks']} chunks, built in {_fmt(first['index_build_seconds'])} s.",
              "", "Definitions: recall/MRR/nDCG over answerable questions (a hit is a chunk of the gold "
              "paragraph or source, or one containing a gold answer); exact/F1 with SQuAD normalisation, "
              "a refusal scores 0; squad2_f1/squad2_exact = the official SQuAD 2.0 scores over all questions "
              "(an unanswerable question scores 1 when refused); contains_gold = answers containing a gold answer; false_answer_rate = unanswerable questions answered; "
              "unsupported_rate = answers whose groundedness is below "
              f"{_fmt(first and variants[names[0]]['hallucination']['groundedness_threshold'])}; "
              "hallucination_rate = answers to unanswerable questions plus unsupported answers to "
              "answerable ones, over all answers; detector_auc = ROC AUC of groundedness against correctness "
              f"(contains a gold answer or F1 >= {CORRECT_F1}), n/a without retrieved text; "
              "reader_detector_auc = the same for the reader's support of generated answers (--reader-check); "
              "confidence_auc / ece = ROC AUC and expected calibration error (10 bins) of the verifier's confidence "
              "against its label (F1 >= 0.5; any answer to an unanswerable question is wrong) over every "
              "answer that carried one, withdrawn or not; accuracy at X coverage = the share right among the "
              "X most confident of them, and its cut the `--min-confidence` that answers about X.",
              "", "Plots: `latency.png`, `metrics.png`, `groundedness.png`, `reliability.png` (variants with a confidence)."]
    return "\n".join(lines) + "\n"


def plots(report: dict[str, Any], rows: Sequence[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["variants"])
    # Latency per stage: one box per variant in each stage's panel.
    fig, axes = plt.subplots(1, len(STAGES), figsize=(4 * len(STAGES), 3.6))
    for ax, stage in zip(axes, STAGES):
        data = [[r["timings"].get(stage, 0.0) for r in rows if r["variant"] == n] for n in names]
        ax.boxplot(data, showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=20, fontsize=8)
        ax.set_title(stage)
        ax.set_ylabel("seconds")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)
    # Metric bars per variant.
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        values = [report["variants"][name][s][k] for s, k in TABLE]
        ax.bar([x + i * width for x in range(len(TABLE))], [v if v is not None else 0 for v in values],
               width, label=name)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(TABLE))], [k for _, k in TABLE],
                  rotation=25, fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("metrics per variant (n/a drawn as 0)")
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=110)
    plt.close(fig)
    # Groundedness of correct vs wrong answers to answerable questions.
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        judged = [r for r in rows if r["variant"] == name and not r["refused"] and "f1" in r["scores"]]
        for label, keep in (("correct", True), ("wrong", False)):
            values = [r["scores"]["groundedness"] or 0.0 for r in judged
                      if is_correct(r) is keep]
            ax.hist(values, bins=[i / 10 for i in range(11)], alpha=0.6, label=f"{label} ({len(values)})")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("groundedness")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "groundedness.png", dpi=110)
    plt.close(fig)


def reliability_plot(rows: Sequence[dict[str, Any]], names: Sequence[str], out: Path) -> Path | None:
    """Share right against mean confidence per bin, one line per variant that has confidences."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rag.answer.verify.calibration import reliability

    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    drawn = 0
    for name in names:
        judged = [r["scores"] for r in rows if r["variant"] == name and r["scores"].get("confidence") is not None]
        if judged:
            points = reliability([s["confidence"] for s in judged], [s["right"] for s in judged])
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"{name} ({len(judged)})")
            drawn += 1
    if drawn:
        ax.set(xlabel="confidence", ylabel="share right (F1 >= 0.5)", xlim=(0, 1), ylim=(0, 1), title="reliability")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "reliability.png", dpi=110)
    plt.close(fig)
    return out / "reliability.png" if drawn else None


def write_reports(report: dict[str, Any], rows: Sequence[dict[str, Any]], out: Path) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    shown = [r for r in rows if r["variant"] in report["variants"]]
    plots(report, shown, out)
    reliability_plot(shown, list(report["variants"]), out)

"""Dynamic int8 quantisation of the generator, tried as an answer-latency lever and kept out of
the product: the same questions through the default pipeline with its generator as is (fp32,
adapter merged) and with its linear layers quantised by `torch.ao.quantization.quantize_dynamic`
(per tensor, and per channel). Prints one JSON line, then a summary: p50 per variant and how
many answers (text and refusal) stay the same.

    .venv/bin/python bench/quantize.py [--questions 30] [--data ../shared/data/squad2/dev10.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "squad2" / "dev10.json"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}


def quantised(model: object, per_channel: bool) -> object:
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    model = copy.deepcopy(model)
    model.model = torch.ao.quantization.quantize_dynamic(
        model.model, {torch.nn.Linear: qconfig}, dtype=torch.qint8)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    from rag import Pipeline
    from rag.datasets import load_squad, sample, write_articles

    questions = [item.question for item in sample(load_squad(args.data).items, args.questions, seed=0)]
    with tempfile.TemporaryDirectory() as tmp:
        docs, index = Path(tmp) / "docs", Path(tmp) / "index"
        write_articles(args.data, docs)
        subprocess.run([str(ROOT / ".venv" / "bin" / "rag"), "ingest", str(docs), "--index", str(index)],
                       capture_output=True, env=ENV, check=True)
        p = Pipeline(index=index)
        generator = p.generator()
        fp32 = generator.model
        runs = {}
        for name, model in (("fp32", fp32), ("int8", quantised(fp32, False)),
                            ("int8_per_channel", quantised(fp32, True))):
            generator.model = model
            p.ask(questions[0])  # first-call costs
            answers = [p.ask(q) for q in questions]
            runs[name] = {"p50_s": round(statistics.median(a.timings.total for a in answers), 3),
                          "answers": [(a.text, a.refused) for a in answers]}
    base = runs["fp32"]["answers"]
    result = {"bench": "quantize", "machine": f"{os.cpu_count()} cores", "questions": len(questions),
              "variants": {name: {"p50_s": r["p50_s"],
                                  "same_answers": sum(a == b for a, b in zip(r["answers"], base)),
                                  "refusals": sum(refused for _, refused in r["answers"])}
                           for name, r in runs.items()}}
    print(json.dumps(result))
    print(f"\nGenerator quantisation, {result['machine']}, {len(questions)} dev10 questions (default pipeline):")
    for name, r in result["variants"].items():
        print(f"  {name:17s} p50 {r['p50_s']:.2f} s   same answers as fp32 {r['same_answers']}/{len(questions)}   "
              f"refusals {r['refusals']}")


if __name__ == "__main__":
    main()

"""LoRA against QLoRA on the same examples: the model's weight memory, the whole process's peak
RSS, and seconds per optimizer step. Each run is a fresh process, so peaks do not mix.

    .venv/bin/python bench/qlora.py [--examples 20] [--steps 10] [--data ../shared/data/squad2/train10.json]

The examples are answerable SQuAD questions of --data, each over its own paragraph in the
prompt `rag ask` builds (one document block). QLoRA's base is NF4 with double quantization,
computing in float32: a CPU without avx512_bf16 runs float32 faster.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "squad2" / "train10.json"

CHILD = """
import json, resource, sys, time, tempfile
import torch
from pathlib import Path
from rag.datasets import load_squad
from rag.finetune.examples import Example
from rag.finetune.train import Trainer, TrainSettings, lora_model, tokenize
from rag.generator import TransformersGenerator
qlora, data, n, steps = sys.argv[1] == "qlora", sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
items = [i for i in load_squad(data).items if i.answerable][:n]
examples = [Example(i.id, "span", ({"role": "user", "content": f'<doc id="1" source="{i.gold_sources[0]}">\\n'
                                   f'{i.gold_context}\\n</doc>\\n\\nQuestion: {i.question}'},), i.answers[0])
            for i in items]
generator = TransformersGenerator()
settings = TrainSettings(r=8, alpha=16, batch_size=2, grad_accum=1, max_steps=steps, save_every=10**6, qlora=qlora)
if qlora:
    from rag.finetune.qlora import quantized_base
    base = quantized_base(generator.model_folder)
    del generator.model  # the full-precision copy is not what QLoRA trains on
else:
    base = generator.model
weights_mb = base.get_memory_footprint() / 1e6
model = lora_model(base, settings)
rows = [tokenize(e, generator.tokenizer) for e in examples]
trainer = Trainer(model, rows, settings, Path(tempfile.mkdtemp()), generator.tokenizer.eos_token_id)
started = time.perf_counter()
result = trainer.train(progress=False)
seconds = time.perf_counter() - started
print(json.dumps({"method": "qlora" if qlora else "lora", "weights_mb": round(weights_mb, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "steps": result.steps, "s_per_step": round(seconds / result.steps, 2),
                  "first_loss": result.first_loss, "final_loss": result.final_loss}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    runs = {}
    for method in ("lora", "qlora"):
        done = subprocess.run([sys.executable, "-c", CHILD, method, args.data, str(args.examples), str(args.steps)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"{method} failed:\n{done.stderr[-2000:]}")
        runs[method] = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = runs["qlora"]["weights_mb"] / runs["lora"]["weights_mb"]
    print(json.dumps({"bench": "qlora", "machine": f"{os.cpu_count()} cores", "examples": args.examples,
                      "runs": runs, "weights_ratio": round(ratio, 3)}))
    for method, r in runs.items():
        print(f"  {method:5s} weights {r['weights_mb']:7.1f} MB  peak RSS {r['peak_rss_mb']:7.1f} MB  "
              f"{r['s_per_step']:6.2f} s/step  loss {r['first_loss']:.3f} -> {r['final_loss']:.3f}")
    print(f"  QLoRA's weights are {ratio:.2f}x LoRA's (target <= 0.35)")


if __name__ == "__main__":
    main()

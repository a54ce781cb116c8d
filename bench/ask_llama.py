"""`bench/ask.py --llama-server`: the local ONNX generator against llama.cpp's llama-server
serving the same fine-tuned model (`rag export`: the adapter merged into an f16 GGUF), on the
same questions through the same chain (retrieval, prompt, refusal): p50, first token, tokens/s,
and how many answers agree. The server runs on this machine's cores, one slot."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any


def compare_llama_server(index: Path, questions: list[str], rounds: int, ours: Any, rag: str, env: dict) -> None:
    """Print one JSON line, then a summary. `ours(index, questions, options)` measures a variant."""
    from rag import Pipeline
    from rag.generator.llama_server import LlamaServer

    with tempfile.TemporaryDirectory() as tmp:
        report = json.loads(subprocess.run([rag, "export", "--out", tmp, "--json"], capture_output=True, text=True,
                                           env=env, check=True).stdout)
        with LlamaServer(report["out"], threads=os.cpu_count() or 2) as server:
            variants = {"local onnx": {"engine": "generator"},
                        "llama-server": {"engine": "generator", "generator.endpoint": server.endpoint,
                                         "generator.model": server.alias}}
            got: dict[str, list[dict]] = {name: [] for name in variants}
            for _ in range(rounds):
                for name, options in variants.items():
                    got[name].append(ours(index, questions, options))
            answers = {name: [Pipeline(index=index, **options).ask(q).text for q in questions]
                       for name, options in variants.items()}
    same = sum(a == b for a, b in zip(*answers.values()))
    result = {name: {key: statistics.median(r[key] for r in runs if r[key] is not None)
                     for key in ("p50_s", "p95_s", "ttft_p50_s", "decode_tokens_per_s")}
              for name, runs in got.items()}
    print(json.dumps({"bench": "ask-llama-server", "machine": f"{os.cpu_count()} cores", "questions": len(questions),
                      "rounds": rounds, "variants": result, "same_answers": same}))
    print(f"\ngenerator engine, {os.cpu_count()} cores, {len(questions)} dev10 questions, medians of {rounds} rounds:")
    for name, r in result.items():
        print(f"  {name:13s} p50 {r['p50_s']:.2f} s  p95 {r['p95_s']:.2f} s  first token p50 {r['ttft_p50_s']:.2f} s  "
              f"decode {r['decode_tokens_per_s']} tokens/s")
    print(f"  the same answer from both: {same} of {len(questions)} (the local engine decodes extractive mode "
          "with span masking, the server freely)")

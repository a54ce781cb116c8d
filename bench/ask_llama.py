"""`bench/ask.py --llama-server` / `--vllm`: the local ONNX generator against llama.cpp's llama-server
serving the same fine-tuned model (`rag export`: the adapter merged into an f16 GGUF), on the
same questions through the same chain (retrieval, prompt, refusal): p50, first token, tokens/s,
and how many answers agree; or against vLLM (`make vllm`) serving the base with the adapter
through --lora-modules. The server runs on this machine's cores."""

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
    from rag.generator.llama_server import LlamaServer

    with tempfile.TemporaryDirectory() as tmp:
        report = json.loads(subprocess.run([rag, "export", "--out", tmp, "--json"], capture_output=True, text=True,
                                           env=env, check=True).stdout)
        with LlamaServer(report["out"], threads=os.cpu_count() or 2) as server:
            race(index, questions, rounds, ours, "llama-server", server.endpoint, server.alias)


def compare_vllm(index: Path, questions: list[str], rounds: int, ours: Any) -> None:
    """The same race against vLLM (make vllm) serving the base with the adapter (--lora-modules)."""
    from rag.adapters import resolve_adapter
    from rag.config import DEFAULT_ADAPTER, DEFAULT_GENERATOR_MODEL
    from rag.generator import resolve_generator_model
    from rag.generator.model_files import cached_gguf
    from rag.generator.vllm_server import VllmServer
    from rag.model_cache import default_cache_dir

    folder, name = resolve_generator_model(DEFAULT_GENERATOR_MODEL, None)
    base = cached_gguf(folder, str(name), default_cache_dir())
    with VllmServer(base, "localrag-smollm2", lora={"localrag": str(resolve_adapter(DEFAULT_ADAPTER))}) as server:
        race(index, questions, rounds, ours, "vllm", server.endpoint, "localrag")


def race(index: Path, questions: list[str], rounds: int, ours: Any, engine: str, endpoint: str, model: str) -> None:
    """The local ONNX generator against the server at `endpoint`, alternating rounds."""
    from rag import Pipeline

    variants = {"local onnx": {"engine": "generator"},
                engine: {"engine": "generator", "generator.endpoint": endpoint, "generator.model": model,
                         "generator.timeout": "600"}}
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
    print(json.dumps({"bench": f"ask-{engine}", "machine": f"{os.cpu_count()} cores", "questions": len(questions),
                      "rounds": rounds, "variants": result, "same_answers": same}))
    print(f"\ngenerator engine, {os.cpu_count()} cores, {len(questions)} dev10 questions, medians of {rounds} rounds:")
    for name, r in result.items():
        print(f"  {name:13s} p50 {r['p50_s']:.2f} s  p95 {r['p95_s']:.2f} s  first token p50 {r['ttft_p50_s']:.2f} s  "
              f"decode {r['decode_tokens_per_s']} tokens/s")
    print(f"  the same answer from both: {same} of {len(questions)} (the local engine decodes extractive mode "
          "with span masking, the server freely)")

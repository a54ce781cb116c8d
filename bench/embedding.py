"""The embedding backends side by side: ONNX Runtime (the default) against PyTorch on the
dev10 paragraphs, seconds per pass at two batch sizes and the smallest cosine between their
vectors; and what importing each backend costs a new process.

    .venv/bin/python bench/embedding.py [--data ../shared/data/squad2/dev10.json] [--articles 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rag.datasets import load_squad_json
from rag.embedding import SentenceTransformerEmbedder
from rag.embedding.onnx import OnnxEmbedder

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad2" / "dev10.json"


def import_seconds(module: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True)
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--articles", type=int, default=3)
    args = parser.parse_args()
    texts = [p["context"] for a in load_squad_json(args.data)[:args.articles] for p in a["paragraphs"]]
    onnx, torch = OnnxEmbedder(), SentenceTransformerEmbedder()
    onnx.load()
    torch.load()
    result: dict = {"bench": "embedding", "machine": f"{os.cpu_count()} cores", "texts": len(texts)}
    for batch in (8, 32):
        onnx.batch_size = torch.batch_size = batch
        onnx.embed_documents(texts[:8])  # warm both
        torch.embed_documents(texts[:8])
        started = time.perf_counter()
        a = onnx.embed_documents(texts)
        result[f"onnx_s_batch{batch}"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        b = torch.embed_documents(texts)
        result[f"torch_s_batch{batch}"] = round(time.perf_counter() - started, 2)
        result["min_cosine"] = float((a * b).sum(axis=1).min())
    result["import_onnxruntime_s"] = import_seconds("onnxruntime")
    result["import_sentence_transformers_s"] = import_seconds("sentence_transformers")
    print(json.dumps(result))
    print(f"\n{len(texts)} dev10 paragraphs, {result['machine']}:")
    for batch in (8, 32):
        print(f"  batch {batch:2d}: ONNX Runtime {result[f'onnx_s_batch{batch}']:.2f} s, "
              f"PyTorch {result[f'torch_s_batch{batch}']:.2f} s")
    print(f"  smallest cosine between the two backends' vectors: {result['min_cosine']:.7f}")
    print(f"  import in a new process: onnxruntime {result['import_onnxruntime_s']} s, "
          f"sentence_transformers {result['import_sentence_transformers_s']} s")


if __name__ == "__main__":
    main()

"""Embeddings on a real engine against in-process ONNX: llama.cpp's `llama-server --embedding`
serving the packaged MiniLM (the GGUF rag.embedding.gguf_bert writes), or vLLM's `--runner
pooling` serving its folder, started here.

    make llama-server
    .venv/bin/python bench/embedding_server.py [--questions 200] [--slots 4] [--threads 2]
    make vllm && .venv/bin/python bench/embedding_server.py --engine vllm

1. Ingest the dev10 articles twice, in process and through the server: the chunk ids, and the
   agreement the index records (minimum probe cosine with the local model).
2. The first `--questions` dev10 questions: is each top-4 identical (hybrid, the default, and
   dense alone, which feels every difference of a vector)?
3. Throughput: every chunk text embedded in process, then through the server with 1, 2, 4 and 8
   requests in flight (what saturates one replica), in chunks/s.
Prints one JSON line, then a summary. The figures are this machine's (2 cores shared by server
and client); a replica on its own GPU is another matter, see the README's scaling section.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rag.config import load_config
from rag.datasets import load_squad, write_articles
from rag.embedding.base import resolve_embedding_model
from rag.embedding.gguf_bert import write_bert_gguf
from rag.embedding.http import HttpEmbedder
from rag.embedding.onnx import OnnxEmbedder
from rag.generator.llama_server import LlamaServer
from rag.generator.vllm_server import VllmServer
from rag.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "squad2" / "dev10.json"
MODEL = "all-MiniLM-L6-v2"


def timed_ingest(rag: Pipeline, docs: Path) -> tuple[float, int]:
    started = time.perf_counter()
    report = rag.ingest(docs, progress=False)
    return time.perf_counter() - started, report.chunks_embedded


def same_top4(questions: list[str], local: Pipeline, served: Pipeline) -> int:
    ours, theirs = local.retriever(), served.retriever()
    return sum([h.chunk.id for h in ours.retrieve(q, 4).hits] == [h.chunk.id for h in theirs.retrieve(q, 4).hits]
               for q in questions)


def rate(embed: object, texts: list[str]) -> float:
    started = time.perf_counter()
    embed.embed_documents(texts)  # type: ignore[attr-defined]
    return round(len(texts) / (time.perf_counter() - started), 1)


def server_of(args: argparse.Namespace, tmp: Path) -> LlamaServer | VllmServer:
    if args.engine == "vllm":
        return VllmServer(resolve_embedding_model(MODEL), MODEL, pooling=True, context=256)
    gguf = write_bert_gguf(MODEL, tmp / "minilm.gguf")
    return LlamaServer(gguf, alias=MODEL, context=256 * args.slots, slots=args.slots, threads=args.threads,
                       embedding=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--slots", type=int, default=4, help="the server's parallel slots")
    parser.add_argument("--threads", type=int, default=2, help="the server's CPU threads")
    parser.add_argument("--engine", choices=("llama-server", "vllm"), default="llama-server")
    args = parser.parse_args()
    questions = [item.question for item in load_squad(args.data).items[:args.questions]]
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        write_articles(args.data, docs)
        with server_of(args, Path(tmp)) as server:
            url = server.endpoint

            def through(index: str, **more: str) -> Pipeline:
                return Pipeline(index=str(Path(tmp) / index),
                                config=load_config(overrides={"embedding.endpoint": url, **more}))

            local, served = Pipeline(index=str(Path(tmp) / "local")), through("served")
            local_s, chunks = timed_ingest(local, docs)
            served_s, _ = timed_ingest(served, docs)
            meta = served.store().metadata()
            same_ids = served.store().ids() == local.store().ids()
            hybrid = same_top4(questions, local, served)
            dense = same_top4(questions, local.variant(retrieval="dense"), served.variant(retrieval="dense"))
            texts = [c.text for c in local.store().all_chunks()]
            onnx = OnnxEmbedder()
            onnx.load()
            in_flight = {n: rate(HttpEmbedder(url, MODEL, concurrency=n), texts) for n in (1, 2, 4, 8)}
            onnx_rate = rate(onnx, texts)
    result = {"bench": "embedding-server", "engine": args.engine,
              "machine": f"{os.cpu_count()} cores", "slots": args.slots, "server_threads": args.threads,
              "chunks": chunks, "same_chunk_ids": same_ids,
              "agreement": json.loads(meta["embedding_agreement"])[url],
              "questions": len(questions), "same_top4_hybrid": hybrid, "same_top4_dense": dense,
              "ingest_s": {"in_process": round(local_s, 1), "server": round(served_s, 1)},
              "chunks_per_s": {"onnx_in_process": onnx_rate, **{f"server_{n}_in_flight": r for n, r in in_flight.items()}}}
    print(json.dumps(result))
    rates = result["chunks_per_s"]
    print(f"\n{args.data}: {chunks} chunks; the server's index has the same chunk ids: {same_ids}; agreement "
          f"(min probe cosine) {result['agreement']:.6f}\n"
          f"top-4 identical on {hybrid}/{len(questions)} questions (hybrid), {dense}/{len(questions)} (dense alone)\n"
          f"ingest: {result['ingest_s']['in_process']} s in process, {result['ingest_s']['server']} s through the server\n"
          f"chunks/s, {result['machine']} shared by server ({args.engine}) and client: "
          f"ONNX in process {rates['onnx_in_process']}; server with 1/2/4/8 requests in flight "
          + "/".join(str(rates[f"server_{n}_in_flight"]) for n in (1, 2, 4, 8)))


if __name__ == "__main__":
    main()

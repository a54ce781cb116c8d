"""Serving two answers at once on two 1-thread ONNX Runtime sessions, against one 2-thread
session answering them in turn (the measurement behind `generator.lanes` in `rag serve`): the
same graph as `rag ask`, prompts of 700 random tokens and 12 greedy steps each. Prints one JSON
line, then a summary.

    .venv/bin/python bench/lanes.py [--answers 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time

import numpy as np

PROMPT_TOKENS, STEPS = 700, 12


def session(graph: str, threads: int):  # -> onnxruntime.InferenceSession
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.intra_op_num_threads = threads
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def answer(runner, seed: int) -> None:
    ids = np.random.default_rng(seed).integers(0, 40000, PROMPT_TOKENS).tolist()
    logits, cache = runner.prefill(ids, None)
    for _ in range(STEPS):
        logits, cache = runner.prefill([int(np.argmax(logits))], cache)


def main() -> None:
    from rag.adapters import resolve_adapter
    from rag.generator.onnx_lm import OnnxGenerator
    from rag.generator.onnx_runner import OnnxRunner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    generator = OnnxGenerator(adapter=resolve_adapter("squad2-grounded"))
    graph = generator.runner.session._model_path
    two = OnnxRunner(session(graph, 2), generator.settings)
    ones = [OnnxRunner(session(graph, 1), generator.settings) for _ in range(2)]
    for runner in (two, *ones):
        answer(runner, 0)  # first runs allocate
    turns, lanes = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        for i in range(args.answers):
            answer(two, i)
        turns.append(time.perf_counter() - started)
        started = time.perf_counter()
        workers = [threading.Thread(target=lambda r=r, j=j: [answer(r, i) for i in range(j, args.answers, 2)])
                   for j, r in enumerate(ones)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        lanes.append(time.perf_counter() - started)
    result = {"bench": "lanes", "machine": f"{os.cpu_count()} cores", "answers": args.answers, "rounds": args.rounds,
              "one_2thread_session_s": round(statistics.median(turns), 2),
              "two_1thread_sessions_s": round(statistics.median(lanes), 2)}
    result["throughput_gain"] = round(result["one_2thread_session_s"] / result["two_1thread_sessions_s"], 3)
    print(json.dumps(result))
    print(f"\n{args.answers} answers ({PROMPT_TOKENS}-token prompts, {STEPS} steps), medians of {args.rounds}: "
          f"one 2-thread session in turn {result['one_2thread_session_s']} s, two 1-thread sessions at once "
          f"{result['two_1thread_sessions_s']} s ({result['throughput_gain']}x the answers per second)")


if __name__ == "__main__":
    main()

"""`rag serve` figures for bench/ask.py: one-shot `rag ask --server`, and latency under 1, 4
and 8 concurrent clients, by `generator.lanes`."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from bench_common import ENV, RAG, ingested, pct, wall


def serve_load(base: str, questions: list[str], clients: int) -> dict:
    """`clients` threads, each asking its share of `questions` (at least 2 each) one after another."""
    latencies: list[float] = []

    def client(asked: list[str]) -> None:
        for question in asked:
            body = json.dumps({"question": question}).encode()
            started = time.perf_counter()
            request = urllib.request.Request(base + "/ask", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as response:
                response.read()
            latencies.append(time.perf_counter() - started)

    per_client = max(2, len(questions) // clients)
    threads = [threading.Thread(target=client, args=(questions[i * per_client % len(questions):][:per_client],))
               for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "p50_s": pct(latencies, 50), "p95_s": pct(latencies, 95),
            "requests_per_s": round(len(latencies) / spent, 3)}


def serve_figures(index: Path, questions: list[str], tmp: Path, lanes: int | None = None) -> dict:
    """One-shot `rag ask --server` and `rag serve` under 1, 4 and 8 clients, on a server with
    `generator.lanes = lanes` (None: the default configuration)."""
    port = 8790 + os.getpid() % 100
    command = [RAG, "serve", "--index", str(index), "--port", str(port)]
    if lanes is not None:
        (tmp / f"lanes{lanes}.toml").write_text(f"[generator]\nlanes = {lanes}\n", encoding="utf-8")
        command += ["--config", str(tmp / f"lanes{lanes}.toml")]
    server = subprocess.Popen(command, env=ENV, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    if json.loads(r.read())["model_state"] == "ready":
                        break
            except OSError:
                pass
            time.sleep(0.2)
        one_shot = statistics.median(wall([RAG, "ask", questions[0], "--server", base]) for _ in range(3))
        load = [serve_load(base, questions, n) for n in (1, 4, 8)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"one_shot_server_s": one_shot, "serve": load,
            "serve_p95_8_over_p50_1": round(load[2]["p95_s"] / load[0]["p50_s"], 2)}


def serve_lanes(data: Path, questions: list[str], values: list[int], rounds: int) -> None:
    """`rag serve` with each `generator.lanes` value, alternating for `rounds` rounds."""
    runs: dict[int, list[dict]] = {v: [] for v in values}
    with ingested(data) as (tmp, _, index):
        for _ in range(rounds):
            for value in values:
                runs[value].append(serve_figures(index, questions, tmp, value))
    print(json.dumps({"bench": "ask-serve-lanes", "machine": f"{os.cpu_count()} cores", "runs": runs}))
    print(f"\nrag serve by generator.lanes, {os.cpu_count()} cores, {len(questions)} dev10 questions:")
    for value, found in runs.items():
        for run in found:
            p50s = " / ".join(f"{s['p50_s']:.2f}" for s in run["serve"])
            p95s = " / ".join(f"{s['p95_s']:.2f}" for s in run["serve"])
            rps = " / ".join(f"{s['requests_per_s']:.2f}" for s in run["serve"])
            print(f"  lanes {value}: 1/4/8 clients p50 {p50s} s, p95 {p95s} s, {rps} requests/s; "
                  f"8-client p95 = {run['serve_p95_8_over_p50_1']}x the 1-client p50")

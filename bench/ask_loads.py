"""The generator's cold load in new processes, for bench/ask.py --cold-loads."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from bench_common import ENV

COLD = """
import sys, time
from rag.adapters import resolve_adapter
started = time.perf_counter()
if sys.argv[1] == "onnx":
    from rag.generator.onnx_lm import OnnxGenerator
    OnnxGenerator(adapter=resolve_adapter("squad2-grounded"))
else:
    from rag.generator import TransformersGenerator
    TransformersGenerator(adapter=resolve_adapter("squad2-grounded"), merge_adapter=sys.argv[1] == "merged")
print(time.perf_counter() - started)
"""


def cold_loads(rounds: int) -> None:
    """The generator's cold load in new processes, imports included: ONNX Runtime (the default,
    from the cached graph), PyTorch with the adapter merged (from the merged-weights cache) and
    unmerged, alternating for `rounds` rounds."""
    for kind in ("onnx", "merged"):  # fill the caches
        subprocess.run([sys.executable, "-c", COLD, kind], capture_output=True, env=ENV, check=True)
    times: dict[str, list[float]] = {"onnx": [], "merged": [], "unmerged": []}
    for _ in range(rounds):
        for kind, got in times.items():
            done = subprocess.run([sys.executable, "-c", COLD, kind], capture_output=True, text=True, env=ENV, check=True)
            got.append(float(done.stdout.split()[-1]))
    result = {kind: round(statistics.median(got), 2) for kind, got in times.items()}
    print(json.dumps({"bench": "ask-cold-loads", "machine": f"{os.cpu_count()} cores", "rounds": rounds,
                      "median_s": result, "all_s": times}))
    print(f"\ngenerator cold load in a new process, imports included, median of {rounds}: ONNX Runtime "
          f"{result['onnx']} s, PyTorch merged (cached) {result['merged']} s, unmerged {result['unmerged']} s")

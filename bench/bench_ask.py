"""Generator load time in a fresh process, and per-stage latency of a few questions.

    .venv/bin/python bench/bench_ask.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "wiki-demo"
LOAD = """
import time
started = time.perf_counter()
from rag.generator import TransformersGenerator
imported = time.perf_counter()
generator = TransformersGenerator()
print(f"{imported - started:.2f} {time.perf_counter() - imported:.2f}")
"""
QUESTIONS = ["What do B cells produce?", "What is packet switching?", "Who developed a steam pump in 1698?",
             "Where did the Huguenots settle in New York?", "What is the capital of Peru?"]


def main() -> None:
    for attempt in (1, 2):  # the first may convert the GGUF once; the second reads the cache
        out = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, check=True)
        imports, load = out.stdout.split()
        print(f"new process #{attempt}: import {imports} s, generator load {load} s")
    from rag import Pipeline

    with tempfile.TemporaryDirectory() as tmp:
        p = Pipeline(index=Path(tmp) / "index")
        p.ingest(DEMO, progress=False)
        timings = [p.ask(q).timings for q in QUESTIONS]
    for stage in ("embed_query", "retrieve", "generate", "check_support", "total", "time_to_first_token"):
        values = [getattr(t, stage) for t in timings]
        print(f"{stage:20s} median {statistics.median(values):.3f} s  max {max(values):.3f} s")
    print(f"prompt tokens median {statistics.median(t.prompt_tokens for t in timings):.0f}; "
          f"decode {sum(t.tokens_generated for t in timings) / sum(t.generate - t.time_to_first_token for t in timings):.1f} tokens/s")


if __name__ == "__main__":
    main()

"""Generator load time in a fresh process (base model, then with the packaged adapter), and
per-stage latency of a few questions with the default configuration.

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
import sys, time
started = time.perf_counter()
from rag.adapters import resolve_adapter
from rag.generator import TransformersGenerator
imported = time.perf_counter()
generator = TransformersGenerator(adapter=resolve_adapter(sys.argv[1]) if sys.argv[1] != "none" else None)
print(f"{imported - started:.2f} {time.perf_counter() - imported:.2f}")
"""
QUESTIONS = ["What do B cells produce?", "What is packet switching?", "Who developed a steam pump in 1698?",
             "Where did the Huguenots settle in New York?", "What is the capital of Peru?"]


def main() -> None:
    from rag.adapters import packaged_adapters

    # The first load may convert the GGUF once; later ones read the cache (a warm start).
    for attempt, adapter in enumerate(["none", "none", *packaged_adapters(), *packaged_adapters()], 1):
        out = subprocess.run([sys.executable, "-c", LOAD, adapter], capture_output=True, text=True, check=True)
        imports, load = out.stdout.split()
        print(f"new process #{attempt} (adapter {adapter}): import {imports} s, generator load {load} s")
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

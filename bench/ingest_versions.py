"""`rag ingest` of the same folders at two commits, alternating in fresh processes: did a change
slow the ingest of txt/md/pdf? By default the commit before the loader registry (issue 31)
against the work tree.

    .venv/bin/python bench/ingest_versions.py [--before 94fcd9a] [--rounds 3]

Folders: the dev10 articles as Markdown, and the demo corpus (Markdown and a PDF). Each ingest
goes into a new index; the older commit runs from a `git worktree` through PYTHONPATH with this
environment's packages. Run it on a quiet machine: both sides share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rag.datasets import write_articles

ROOT = Path(__file__).resolve().parent.parent
DEV10 = ROOT.parent / "shared" / "data" / "squad2" / "dev10.json"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}


def ingest(code: Path, docs: Path, index: Path) -> tuple[float, int]:
    """Wall seconds of `rag ingest` run from `code`'s sources, and the chunks it stored."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import sys; from rag.cli import main; sys.exit(main(sys.argv[1:]))",
                           "ingest", str(docs), "--index", str(index), "--json"],
                          capture_output=True, text=True, env={**ENV, "PYTHONPATH": str(code)}, cwd=code)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"ingest from {code} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, int(json.loads(done.stdout)["chunks_upserted"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="94fcd9a")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        before = work / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            write_articles(DEV10, work / "dev10")
            folders = {"dev10-md": work / "dev10", "demo-md-pdf": ROOT / "corpora" / "wiki-demo"}
            sides = {"before": before, "after": ROOT}
            times: dict[str, dict[str, list[float]]] = {f: {s: [] for s in sides} for f in folders}
            chunks: dict[str, dict[str, int]] = {f: {} for f in folders}
            for number in range(args.rounds):
                for folder, docs in folders.items():
                    order = list(sides) if number % 2 == 0 else list(reversed(sides))
                    for side in order:
                        wall, stored = ingest(sides[side], docs, work / f"index-{folder}-{side}-{number}")
                        times[folder][side].append(round(wall, 1))
                        chunks[folder][side] = stored
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
    print(json.dumps({"bench": "ingest_versions", "before": args.before, "machine": f"{os.cpu_count()} cores",
                      "seconds": times, "chunks": chunks}))
    for folder, by_side in times.items():
        line = "  ".join(f"{side} median {statistics.median(t):.1f} s ({', '.join(map(str, t))})"
                         for side, t in by_side.items())
        print(f"  {folder:12s} {line}  chunks {chunks[folder]}")


if __name__ == "__main__":
    main()

"""`rag eval` with the real MiniLM and SmolLM2 on a few questions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

pytestmark = pytest.mark.integration


def test_rag_eval_runs_both_variants_and_writes_every_artifact(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [sys.executable, "-m", "rag.cli", "eval", "--data", str(FIXTURES / "tiny_squad.json"),
        "--out", str(out), "--limit", "4", "--seed", "1", "--variants",
        "closed-book,default+generator.max_new_tokens=32", "--json"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    variants = report["variants"]
    assert set(variants) == {"closed-book", "default+generator.max_new_tokens=32"}
    default = variants["default+generator.max_new_tokens=32"]
    assert default["n_questions"] == 4 and default["retrieval"]["n"] == 2
    assert 0.0 <= default["retrieval"]["recall_at_k"] <= 1.0
    assert default["latency"]["generate"]["p50"] > 0 and default["latency"]["index_chunks"] > 0
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(r["timings"]["total"] > 0 for r in rows)
    for name in ("report.md", "latency.png", "metrics.png", "groundedness.png"):
        assert (out / name).stat().st_size > 0

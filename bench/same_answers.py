"""Two `rag eval` runs' answers side by side, question by question: how many answers, refusals,
reasons and spans are the same, and the largest margin difference. Used to show that a change
(the Answerer seam) gives the generator's answers unchanged.

    .venv/bin/python bench/same_answers.py BEFORE/answers.jsonl AFTER/answers.jsonl [--variant default]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def rows(path: Path, variant: str) -> dict[str, dict]:
    found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["id"]: r for r in found if r["variant"] == variant}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--variant", default="default")
    args = parser.parse_args()
    before, after = rows(args.before, args.variant), rows(args.after, args.variant)
    shared = sorted(before.keys() & after.keys())
    same = {key: sum(before[i][key] == after[i][key] for i in shared) for key in ("answer", "refused", "reason", "span")}
    margins = [abs(before[i]["margin"] - after[i]["margin"]) for i in shared
               if before[i]["margin"] is not None and after[i]["margin"] is not None]
    differ = [i for i in shared if any(before[i][k] != after[i][k] for k in same)]
    print(json.dumps({"bench": "same-answers", "questions": len(shared), "same": same,
                      "max_margin_difference": max(margins, default=None), "differ": differ[:20]}))
    print(f"{len(shared)} questions in both runs: the same answer {same['answer']}, refusal {same['refused']}, "
          f"reason {same['reason']}, span {same['span']}; largest margin difference {max(margins, default=0):.2e}")


if __name__ == "__main__":
    main()

"""Evaluation reports for the page (`rag serve --reports DIR`): every folder at or under DIR
holding a `rag eval` output (report.json, its PNG plots), its comparison table and its plots.
Only files inside those folders are served, and only their reports and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.errors import InputError, RagError

SERVED = (".png", ".md", ".json")
MAX_DEPTH = 3


class NotFoundError(RagError):
    """A report, report file or ingest job that does not exist (HTTP 404)."""


class ReportFolders:
    """The `rag eval` output folders under `root`.

    Raises:
        InputError: `root` is not a folder.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise InputError(f"--reports {str(root)!r} is not a folder")

    def names(self) -> list[str]:
        """Each report folder's path relative to the root ("." for the root itself), sorted."""
        found = [p.parent for p in self.root.rglob("report.json")
                 if len(p.relative_to(self.root).parts) <= MAX_DEPTH + 1]
        return sorted(f.relative_to(self.root).as_posix() for f in found)

    def folder(self, name: str) -> Path:
        """The report folder called `name`.

        Raises:
            NotFoundError: no report folder of that name (a path outside the root included).
        """
        names = self.names()
        if name not in names:
            raise NotFoundError(f"no report {name!r} under {str(self.root)!r} (reports: "
                                f"{', '.join(names) or 'none'})")
        return self.root / name

    def summary(self, name: str) -> dict[str, Any]:
        """A report's run, variants, comparison table and plot file names."""
        from rag.eval.report import comparison_rows

        folder = self.folder(name)
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        return {"name": name, "run": report.get("run", {}), "variants": list(report["variants"]),
                "rows": [[label, *values] for label, values in comparison_rows(report)],
                "plots": sorted(p.name for p in folder.glob("*.png"))}

    def file(self, name: str, filename: str) -> Path:
        """One served file of a report folder.

        Raises:
            NotFoundError: not a report, plot or table file of that folder.
        """
        folder = self.folder(name)
        path = folder / filename
        if "/" in filename or "\\" in filename or not filename.endswith(SERVED) or not path.is_file():
            raise NotFoundError(f"report {name!r} has no file {filename!r}")
        return path

"""Ingest jobs: `POST /ingest/jobs` starts an ingest in the background and `GET
/ingest/jobs/ID` reports its progress, so a page can show a progress bar. The ingest itself
runs through the model gate like every write: this process stays the index's single writer.

Jobs live in this process's memory: a restart forgets them (the page says so). What a killed
job leaves in the index does not depend on it: its files stay "pending" in the manifest, and
`interrupted()` tells the server at start and /info what to re-run; the next ingest of the
folder finishes or removes them (rag/ingest/pipeline.py)."""

from __future__ import annotations

import shlex
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IngestJob:
    """One ingest's state: queued -> running -> done or failed."""

    id: str
    folder: str
    state: str = "queued"
    done: int = 0
    total: int = 0
    report: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "folder": self.folder, "state": self.state, "done": self.done,
                "total": self.total, "report": self.report, "error": self.error}


class IngestJobs:
    """The server's ingest jobs, newest kept; older finished ones are forgotten past `keep`."""

    def __init__(self, keep: int = 20) -> None:
        self.keep = keep
        self._jobs: dict[str, IngestJob] = {}

    def new(self, folder: str) -> IngestJob:
        job = IngestJob(uuid.uuid4().hex[:12], folder)
        self._jobs[job.id] = job
        finished = [j for j in self._jobs.values() if j.state in ("done", "failed")]
        for old in sorted(finished, key=lambda j: j.started)[:max(0, len(self._jobs) - self.keep)]:
            del self._jobs[old.id]
        return job

    def get(self, job_id: str) -> IngestJob | None:
        return self._jobs.get(job_id)

    def run(self, job: IngestJob, pipeline: Any, folder: Any = None, replace: bool = False,
            label: str | None = None) -> None:
        """Run `job` (in a worker thread, inside the gate), recording progress and outcome.
        `folder`: the job's folder as checked against the ingest roots (resolved); the ingest
        follows no symlink out of it."""
        def on_progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        job.state = "running"
        report = pipeline.ingest(folder or job.folder, progress=False, on_progress=on_progress, confine=True,
                                 replace=replace, label=label)
        job.report, job.state = dict(report.to_dict()), "done"


def interrupted(info: dict[str, Any], index_option: str = "") -> dict[str, Any] | None:
    """What an interrupted ingest left half-written (files still "pending", a root whose
    ingest never finished), and the commands that repair it; None when nothing is pending."""
    pending = [f["source"] for f in info.get("sources", []) if f.get("status") == "pending"]
    roots = {r["label"]: r for r in info.get("roots", [])}
    labels = sorted({f.get("root", "") for f in info.get("sources", []) if f.get("status") == "pending"}
                    | {r["label"] for r in roots.values() if r.get("interrupted")})
    if not pending and not labels:
        return None
    commands = [f"rag ingest {shlex.quote(roots[label]['path'] if roots.get(label, {}).get('path') else 'FOLDER')}"
                f" --label {label}{index_option}" for label in labels]
    return {"pending": pending, "roots": labels, "command": "; ".join(commands),
            "message": f"an ingest was interrupted: {len(pending)} file(s) are half-written "
                       f"({', '.join(pending[:3])}{', ...' if len(pending) > 3 else ''}) in root(s) "
                       f"{', '.join(labels)}; ingest them again"}

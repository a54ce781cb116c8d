"""The page's routes on `rag serve`: the page and its static files (no other host is ever
asked for anything: a Content-Security-Policy of 'self' says so to the browser), ingest jobs
with progress, and the evaluation reports of `--reports DIR`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from rag.serve.jobs import IngestJobs
from rag.serve.reports import NotFoundError, ReportFolders
from rag.serve.roots import OFF, ForbiddenError, IngestRoots

STATIC = Path(__file__).with_name("static")
SELF_ONLY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
             "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SelfOnlyHeaders:
    """ASGI middleware adding the CSP and nosniff headers to every response. Plain ASGI, not
    Starlette's BaseHTTPMiddleware, which wraps `receive` and hides a client's disconnect from
    the routes (a dropped /ask must stop its generation)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in ((b"content-security-policy", SELF_ONLY.encode()),
                                             (b"x-content-type-options", b"nosniff")) if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


class IngestJobRequest(BaseModel):
    folder: str
    replace: bool = False  # make the folder the index's only root
    label: str | None = None  # the root's label (default: the folder's own, else its name)


class ForgetRequest(BaseModel):
    target: str  # a root's label, or a document as /info lists it (root/path)


def add_web_routes(app: FastAPI, pipeline: Any, gate: Any, guard: list[Any], error_body: Any,
                   reports: ReportFolders | None = None, roots: IngestRoots | None = None) -> None:
    """Add the page, ingest jobs and report routes to `app`.

    Args:
        pipeline: the served Pipeline (ingests, info).
        gate: the server's ModelGate (ingest jobs queue there like every use of the index).
        guard: the API-key dependency list of the API routes.
        error_body: exception -> the JSON error object the API answers with.
        reports: the report folders of `--reports DIR`, or None.
        roots: the folders ingest jobs may read under (None or none: ingest is off).
    """
    jobs = IngestJobs()
    roots = roots or IngestRoots()
    running: set[asyncio.Task[None]] = set()  # references, so a job's task is not collected midway

    app.add_middleware(SelfOnlyHeaders)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.post("/ingest/jobs", dependencies=guard, status_code=202)
    async def start_ingest(body: IngestJobRequest) -> dict[str, Any]:
        folder = roots.check(body.folder)  # refused before a job exists: nothing is written
        job = jobs.new(body.folder)

        async def run() -> None:
            try:
                await gate.run(lambda: jobs.run(job, pipeline, folder, body.replace, body.label))
            except Exception as exc:  # noqa: BLE001 - the job's outcome, read by polling
                job.state, job.error = "failed", error_body(exc)["error"]

        task = asyncio.get_running_loop().create_task(run())
        running.add(task)
        task.add_done_callback(running.discard)
        return job.to_dict()

    @app.post("/ingest/plan", dependencies=guard)
    async def plan_ingest(body: IngestJobRequest) -> dict[str, Any]:
        """What an ingest of the folder would remove, before it runs (the page asks first)."""
        folder = roots.check(body.folder)
        return dict(await gate.run(lambda: pipeline.plan_ingest(folder, body.replace, True, body.label)))

    @app.post("/forget", dependencies=guard)
    async def forget(body: ForgetRequest) -> dict[str, Any]:
        """Remove a root (its label) or one document (root/path); allowed where ingest is."""
        if not roots.enabled:  # index writes over HTTP are off, as for ingest
            raise ForbiddenError(OFF)
        deleted = await gate.run(lambda: pipeline.forget(body.target))
        return {"target": body.target, "chunks_deleted": deleted}

    @app.get("/ingest/jobs/{job_id}", dependencies=guard)
    async def ingest_job(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no ingest job {job_id!r}")
        return job.to_dict()

    @app.get("/reports", dependencies=guard)
    async def report_list() -> dict[str, Any]:
        if reports is None:
            return {"root": None, "reports": []}
        return {"root": str(reports.root), "reports": reports.names()}

    @app.get("/reports/summary", dependencies=guard)
    async def report_summary(name: str) -> dict[str, Any]:
        return _reports(reports).summary(name)

    @app.get("/reports/file", dependencies=guard)
    async def report_file(name: str, file: str) -> FileResponse:
        return FileResponse(_reports(reports).file(name, file))


def _reports(reports: ReportFolders | None) -> ReportFolders:
    if reports is None:
        raise NotFoundError("this server has no reports: start it with rag serve --reports DIR")
    return reports

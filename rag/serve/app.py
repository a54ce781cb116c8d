"""`rag serve`'s HTTP app: one loaded Pipeline behind FastAPI. It calls the Pipeline, never
the store.

    POST /ask                   {"question", "k"?, "filter"?, "retrieval"?, "engine"?, "adapter"?,
                                 "passages"?}
                                -> the `rag ask --json` object (+ "passages" when asked for)
    POST /ask/stream            the same as server-sent events: "piece" events, then "answer"
    POST /v1/chat/completions   OpenAI-compatible (stream or not); sources in "rag"
    GET  /health, GET /info (+ "ask": the per-question settings), POST /ingest {"folder"}
    GET  /, /static/*, /ingest/jobs, /reports*   the page and what it reads (rag.serve.web)

Every request passes the trust boundary first (rag.serve.trust: Host, Origin, JSON, body size);
every route but /health and the page needs the API key when one is set; every use of a model
goes through the gate (rag.serve.gate); a client that goes away stops its answer's generation.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from rag.errors import RagError
from rag.serve.chains import Chains
from rag.serve.errors import CLIENT_GONE, UnauthorizedError, error_body, sse, status_of
from rag.serve.gate import ModelGate
from rag.serve.jobs import interrupted
from rag.serve.limits import ServeLimits
from rag.serve.openai_api import ChatRequest, chat_chunk, chat_response, question_of
from rag.serve.reports import ReportFolders
from rag.serve.requests import AskRequest, IngestRequest
from rag.serve.roots import IngestRoots
from rag.serve.trust import HostPolicy, TrustBoundary
from rag.serve.web import add_web_routes
from rag.types import Answer

if TYPE_CHECKING:
    from rag.chain import AnswerStream, RagChain
    from rag.pipeline import Pipeline


def create_app(pipeline: Pipeline, *, api_key: str | None = None, queue_timeout: float = 120.0,
               reports: str | Path | None = None, preload: bool = False, bind: str = "127.0.0.1",
               allowed_hosts: Iterable[str] = (), ingest_roots: Iterable[str | Path] = (),
               limits: ServeLimits | None = None, docs: bool = False) -> TrustBoundary:
    """The app over `pipeline`, behind its trust boundary (an ASGI app: the boundary wraps FastAPI).

    Args:
        api_key: when set, every route but /health, the page and its static files needs
            `Authorization: Bearer KEY`.
        queue_timeout: seconds a request waits for the busy model before a 503.
        reports: a folder of `rag eval` outputs the page may show.
        preload: load the model in the background at start (/health tells when it is ready).
        bind: the address the server binds (its Host names are allowed).
        allowed_hosts: more Host names to answer (`--allowed-host`; "*": any).
        ingest_roots: the folders ingest over HTTP may read under (none: ingest is off).
        limits: request limits (ServeLimits() when None).
        docs: serve the OpenAPI schema at /openapi.json (behind the key).

    Raises:
        InputError: `reports` or an ingest root is not a folder.
    """
    folders = ReportFolders(reports) if reports is not None else None
    roots = IngestRoots(ingest_roots)
    limits = limits or ServeLimits()
    chains = Chains(pipeline)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.get_running_loop().create_task(gate.run(chains.preload))] if preload else []
        yield
        for task in tasks:
            task.cancel()

    app = FastAPI(title="localrag", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    gate = ModelGate(queue_timeout, chains.lanes, limits.max_waiting)
    expected = f"Bearer {api_key}".encode() if api_key else None

    def chain(body: AskRequest | None = None) -> RagChain:
        return chains.get(body.retrieval, body.adapter, body.engine) if body is not None else chains.get()

    async def built(body: AskRequest | None = None) -> RagChain:
        """The chain for `body`'s settings, built through the gate when new (it may load a model)."""
        settings = (body.retrieval, body.adapter, body.engine) if body is not None else (None, None, None)
        if not chains.has(*settings):
            await gate.run(lambda: chain(body))
        return await anyio.to_thread.run_sync(lambda: chain(body))

    def answered(answer: Answer, body: AskRequest) -> dict[str, Any]:
        out = dict(answer.to_dict())
        if body.passages:
            out["passages"] = [p.to_dict() for p in pipeline.passages(answer)]
        return out

    async def authorised(request: Request) -> None:
        if expected is not None and not hmac.compare_digest(
                request.headers.get("authorization", "").encode(), expected):
            raise UnauthorizedError("missing or wrong API key: send Authorization: Bearer KEY")

    @app.exception_handler(RagError)
    async def on_rag_error(request: Request, exc: RagError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_of(exc))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=500)  # it logs the traceback under its reference

    guard = [Depends(authorised)]
    add_web_routes(app, pipeline, gate, guard, error_body, folders, roots)
    if docs:
        @app.get("/openapi.json", dependencies=guard, include_in_schema=False)
        async def openapi() -> dict[str, Any]:
            return app.openapi()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model_loaded": chains.loaded, "model_state": chains.state,
                "waiting": gate.waiting, "busy": gate.busy}

    @app.get("/info", dependencies=guard)
    async def info() -> dict[str, Any]:
        found = dict(await gate.run(pipeline.info))
        found["ask"] = pipeline.ask_options()
        found["ingest"] = {**roots.to_dict(), "jobs_survive_restart": False}
        found["interrupted"] = interrupted(found)
        found["model_error"] = chains.error or None
        return found

    @app.post("/ingest", dependencies=guard)
    async def ingest(body: IngestRequest) -> dict[str, Any]:
        folder = roots.check(body.folder)
        # Through the gate: this process is the index's single writer, and answers wait for it.
        report = await gate.run(lambda: pipeline.ingest(folder, progress=False, confine=True, replace=body.replace,
                                                        label=body.label))
        return dict(report.to_dict())  # the lexical index follows on the next search by itself

    async def prepared(body: AskRequest) -> AnswerStream:
        """The chain's stream, its input checked now: bad input is a 400 before any model work."""
        limits.check_question(body.question)
        ready = await built(body)
        return await anyio.to_thread.run_sync(lambda: ready.stream(body.question, body.k, body.filter))

    @app.post("/ask", dependencies=guard)
    async def ask(body: AskRequest, request: Request, stream: bool = False) -> Any:
        if stream:
            return await ask_stream(body, request)
        answer = await _until_answer(await prepared(body), request)
        if answer is None:
            return Response(status_code=CLIENT_GONE)
        return await anyio.to_thread.run_sync(answered, answer, body)

    @app.post("/ask/stream", dependencies=guard)
    async def ask_stream(body: AskRequest, request: Request) -> StreamingResponse:
        pieces = _pieces(await prepared(body), request)

        async def events() -> AsyncIterator[str]:
            async for kind, value in pieces:
                if kind == "piece":
                    yield sse("piece", {"text": value})
                elif kind == "done":
                    done = await anyio.to_thread.run_sync(answered, value, body)
                    yield sse("answer", done)
                elif kind == "error":
                    yield sse("error", {**error_body(value), "status": status_of(value)})

        return StreamingResponse(events(), media_type="text/event-stream")

    async def chat_stream(body: ChatRequest) -> Any:
        """The chat's question through the default chain, its answer capped at max_tokens."""
        limits.check_messages(body.messages)
        question = question_of(body)
        limits.check_question(question)
        ready = await built()
        limits.check_max_tokens(body.max_tokens, ready.max_new_tokens)
        return await anyio.to_thread.run_sync(lambda: ready.capped(body.max_tokens).stream(question))

    @app.post("/v1/chat/completions", dependencies=guard)
    async def chat(body: ChatRequest, request: Request) -> Any:
        model = body.model or "localrag"
        answer_stream = await chat_stream(body)
        if not body.stream:
            answer = await _until_answer(answer_stream, request)
            return Response(status_code=CLIENT_GONE) if answer is None else chat_response(answer, model)
        pieces = _pieces(answer_stream, request)

        async def events() -> AsyncIterator[str]:
            async for kind, value in pieces:
                if kind == "piece":
                    yield "data: " + json.dumps(chat_chunk(model, value)) + "\n\n"
                elif kind == "done":
                    yield "data: " + json.dumps(chat_chunk(model, None, value)) + "\n\n"
                    yield "data: [DONE]\n\n"
                elif kind == "error":
                    yield "data: " + json.dumps({**error_body(value), "status": status_of(value)}) + "\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def _pieces(answer_stream: AnswerStream, request: Request) -> AsyncIterator[tuple[str, Any]]:
        """The answer's pieces from the gate, queued now (a full queue is a 503 before any
        response starts); generation stops when the client goes away."""
        cancelled = threading.Event()
        queued = gate.stream(lambda: iter(answer_stream), lambda _: answer_stream.answer, cancelled)

        async def relayed() -> AsyncIterator[tuple[str, Any]]:
            try:
                async for kind, value in queued:
                    if await request.is_disconnected():
                        cancelled.set()
                    yield kind, value
            finally:
                cancelled.set()  # the client went away: free the generator at its next piece

        return relayed()

    async def _until_answer(answer_stream: AnswerStream, request: Request) -> Answer | None:
        """The whole Answer, or None when the client went away first (generation stopped)."""
        async for kind, value in _pieces(answer_stream, request):
            if kind == "done":
                return value
            if kind == "error":
                raise value
        return None

    return TrustBoundary(app, HostPolicy(bind, allowed_hosts), limits.max_body_bytes)

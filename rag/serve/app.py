"""`rag serve`'s HTTP app: one loaded Pipeline behind FastAPI. It calls the Pipeline, never
the store.

    POST /ask                   {"question", "k"?, "filter"?, "retrieval"?, "engine"?, "adapter"?,
                                 "passages"?}
                                -> the `rag ask --json` object (+ "passages" when asked for)
    POST /ask/stream            the same as server-sent events: "piece" events, then "answer"
    POST /v1/chat/completions   OpenAI-compatible (stream or not); sources in "rag"
    GET  /health, GET /info (+ "ask": the per-question settings), POST /ingest {"folder"}
    GET  /, /static/*, /ingest/jobs, /reports*   the page and what it reads (rag.serve.web)
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from rag.errors import (
    ConfigError,
    IndexNotFoundError,
    IngestLockedError,
    InputError,
    ModelLoadError,
    NothingToIngestError,
    RagError,
)
from rag.serve.chains import Chains
from rag.serve.gate import BusyError, ModelGate
from rag.serve.openai_api import ChatRequest, chat_chunk, chat_response, question_of
from rag.serve.reports import NotFoundError, ReportFolders
from rag.serve.web import add_web_routes

log = logging.getLogger(__name__)
STATUS = [(InputError, 400), (ConfigError, 400), (NothingToIngestError, 400), (IndexNotFoundError, 404),
          (NotFoundError, 404), (IngestLockedError, 409), (BusyError, 503), (ModelLoadError, 503)]


class AskRequest(BaseModel):
    question: str
    k: int | None = Field(default=None, ge=1, le=100)
    filter: dict[str, Any] | None = None
    retrieval: Literal["dense", "lexical", "hybrid"] | None = None  # None: the configured mode
    engine: Literal["reader", "generator"] | None = None  # None: the configured engine
    adapter: bool | None = None  # False: the base model without its LoRA adapter
    passages: bool = False  # add each source's whole text and the stretch to highlight


class IngestRequest(BaseModel):
    folder: str


def status_of(exc: Exception) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def error_body(exc: Exception) -> dict[str, Any]:
    return {"error": {"type": type(exc).__name__, "message": str(exc)}}


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def create_app(pipeline: Any, *, api_key: str | None = None, queue_timeout: float = 120.0,
               reports: str | Path | None = None, preload: bool = False) -> FastAPI:
    """The app over `pipeline` (a rag.Pipeline, or anything with chain() and info()).

    Args:
        api_key: when set, every route but /health, the page and its static files needs
            `Authorization: Bearer KEY`.
        queue_timeout: seconds a request waits for the busy model before a 503.
        reports: a folder of `rag eval` outputs the page may show.
        preload: load the model in the background at start (/health tells when it is ready).

    Raises:
        InputError: `reports` is not a folder.
    """
    folders = ReportFolders(reports) if reports is not None else None
    chains = Chains(pipeline)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.get_running_loop().create_task(gate.run(chains.preload))] if preload else []
        yield
        for task in tasks:
            task.cancel()

    app = FastAPI(title="localrag", version="1", lifespan=lifespan)
    gate = ModelGate(queue_timeout, chains.lanes)

    def chain(body: AskRequest | None = None) -> Any:
        return chains.get(body.retrieval, body.adapter, body.engine) if body is not None else chains.get()

    def answered(answer: Any, body: AskRequest) -> dict[str, Any]:
        out = dict(answer.to_dict())
        if body.passages:
            out["passages"] = [p.to_dict() for p in pipeline.passages(answer)]
        return out

    async def authorised(request: Request) -> None:
        if api_key and request.headers.get("authorization") != f"Bearer {api_key}":
            raise PermissionError("missing or wrong API key: send Authorization: Bearer KEY")

    @app.exception_handler(RagError)
    async def on_rag_error(request: Request, exc: RagError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_of(exc))

    @app.exception_handler(PermissionError)
    async def on_denied(request: Request, exc: PermissionError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=401)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)  # the server's log keeps the traceback
        return JSONResponse(error_body(RagError(f"internal error: {type(exc).__name__}: {exc}")), status_code=500)

    guard = [Depends(authorised)]
    add_web_routes(app, pipeline, gate, guard, error_body, folders)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model_loaded": chains.loaded, "model_state": chains.state,
                "model_error": chains.error, "waiting": gate.waiting, "busy": gate.busy}

    @app.get("/info", dependencies=guard)
    async def info() -> dict[str, Any]:
        found = dict(await gate.run(pipeline.info))
        if hasattr(pipeline, "ask_options"):
            found["ask"] = pipeline.ask_options()
        return found

    @app.post("/ingest", dependencies=guard)
    async def ingest(body: IngestRequest) -> dict[str, Any]:
        # Through the gate: this process is the index's single writer, and answers wait for it.
        report = await gate.run(lambda: pipeline.ingest(body.folder, progress=False))
        return dict(report.to_dict())  # the lexical index follows on the next search by itself

    async def prepared(body: AskRequest) -> Any:
        """The chain's stream, its input checked now: bad input is a 400 before any event.
        A chain variant not built yet is built through the gate (it may load a model)."""
        if not chains.has(body.retrieval, body.adapter, body.engine):
            await gate.run(lambda: chain(body))
        return await anyio.to_thread.run_sync(lambda: chain(body).stream(body.question, body.k, body.filter))

    @app.post("/ask", dependencies=guard)
    async def ask(body: AskRequest, request: Request, stream: bool = False) -> Any:
        if stream:
            return await ask_stream(body, request)
        if not chains.has(body.retrieval, body.adapter, body.engine):
            await gate.run(lambda: chain(body))  # alone: it may load a model
        return await gate.run(lambda: answered(chain(body).ask(body.question, body.k, body.filter), body),
                              answer=True)

    @app.post("/ask/stream", dependencies=guard)
    async def ask_stream(body: AskRequest, request: Request) -> StreamingResponse:
        answer_stream = await prepared(body)

        async def events() -> AsyncIterator[str]:
            async for kind, value in _pieces(answer_stream, request):
                if kind == "piece":
                    yield sse("piece", {"text": value})
                elif kind == "done":
                    done = await anyio.to_thread.run_sync(answered, value, body)
                    yield sse("answer", done)
                elif kind == "error":
                    yield sse("error", {**error_body(value), "status": status_of(value)})

        return StreamingResponse(events(), media_type="text/event-stream")

    def capped(max_tokens: int | None) -> Any:
        """The chain, its generated answers capped at `max_tokens` (OpenAI's max_tokens)."""
        return chain().capped(max_tokens)

    @app.post("/v1/chat/completions", dependencies=guard)
    async def chat(body: ChatRequest, request: Request) -> Any:
        question = question_of(body)
        model = body.model or "localrag"
        if not body.stream:
            answer = await gate.run(lambda: capped(body.max_tokens).ask(question), answer=True)
            return chat_response(answer, model)
        answer_stream = await anyio.to_thread.run_sync(lambda: capped(body.max_tokens).stream(question))

        async def events() -> AsyncIterator[str]:
            async for kind, value in _pieces(answer_stream, request):
                if kind == "piece":
                    yield "data: " + json.dumps(chat_chunk(model, value)) + "\n\n"
                elif kind == "done":
                    yield "data: " + json.dumps(chat_chunk(model, None, value)) + "\n\n"
                    yield "data: [DONE]\n\n"
                elif kind == "error":
                    yield "data: " + json.dumps({**error_body(value), "status": status_of(value)}) + "\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _pieces(answer_stream: Any, request: Request) -> AsyncIterator[tuple[str, Any]]:
        cancelled = threading.Event()
        try:
            async for kind, value in gate.stream(lambda: iter(answer_stream), lambda _: answer_stream.answer,
                                                 cancelled):
                if await request.is_disconnected():
                    cancelled.set()
                yield kind, value
        finally:
            cancelled.set()  # the client went away: free the generator at its next piece

    return app

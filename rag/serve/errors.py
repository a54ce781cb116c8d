"""How `rag serve` answers errors: our own errors with their status and message (written for
users), anything else as a bare 500 whose details stay in the server's log."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from rag.embedding.http import EmbeddingServerError
from rag.errors import (
    ConfigError,
    IndexNotFoundError,
    IngestLockedError,
    InputError,
    ModelLoadError,
    NothingToIngestError,
    RagError,
)
from rag.generator.openai_http import GeneratorHTTPError
from rag.serve.gate import BusyError
from rag.serve.reports import NotFoundError
from rag.serve.roots import ForbiddenError

log = logging.getLogger(__name__)


class UnauthorizedError(RagError):
    """A request without the server's API key (HTTP 401). Its own class: an OS PermissionError
    met while serving is a bug answered as 500, not a 401 carrying the OS's message."""


STATUS = [(UnauthorizedError, 401), (InputError, 400), (ConfigError, 400), (NothingToIngestError, 400),
          (ForbiddenError, 403), (IndexNotFoundError, 404), (NotFoundError, 404), (IngestLockedError, 409), (BusyError, 503),
          (ModelLoadError, 503), (GeneratorHTTPError, 502), (EmbeddingServerError, 502)]
CLIENT_GONE = 499  # nginx's code for a client that closed the connection first: nobody reads it


def status_of(exc: Exception) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def error_body(exc: Exception) -> dict[str, Any]:
    """The JSON error object: our own errors' messages (written for users); nothing of others."""
    if not isinstance(exc, RagError):
        ref = uuid.uuid4().hex[:8]
        log.error("internal error %s: %s: %s", ref, type(exc).__name__, exc, exc_info=exc)  # the traceback
        return {"error": {"type": "InternalError", "message": f"internal error (the server's log has it as {ref})"}}
    return {"error": {"type": type(exc).__name__, "message": str(exc)}}


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

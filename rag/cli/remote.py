"""Asking a running `rag serve` instead of loading the models in this process: the one-shot
`rag ask` then costs an HTTP request, not seconds of imports and model loads. Standard library
only (urllib), so the client imports nothing heavy.

The server is configured by `--server URL` or the RAG_SERVER environment variable; its API key,
when it wants one, comes from RAG_API_KEY.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from rag.errors import InputError, RagError
from rag.types import Answer

SERVER_ENV = "RAG_SERVER"


class ServerUnavailableError(RagError):
    """No `rag serve` answers at the configured address."""


def server_url(flag: str | None) -> str | None:
    """The configured server: the flag, else $RAG_SERVER; None when neither is set."""
    url = (flag or os.environ.get(SERVER_ENV) or "").strip().rstrip("/")
    if url and not url.startswith(("http://", "https://")):
        raise InputError(f"--server / ${SERVER_ENV} must be an http:// or https:// URL; got {url!r}")
    return url or None


def _request(url: str, body: dict[str, Any] | None = None) -> urllib.request.Request:
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if os.environ.get("RAG_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['RAG_API_KEY']}"
    data = json.dumps(body).encode() if body is not None else None
    return urllib.request.Request(url, data=data, headers=headers, method="POST" if body is not None else "GET")


def check_server(url: str, timeout: float = 1.0) -> None:
    """Raise ServerUnavailableError unless `url`/health answers within `timeout` seconds."""
    try:
        with urllib.request.urlopen(_request(f"{url}/health"), timeout=timeout) as response:
            json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise ServerUnavailableError(f"no rag serve at {url}: {exc}") from exc


class RemoteStream:
    """Iterate for the answer's text pieces from the server; `.answer` holds the Answer after,
    like the chain's own AnswerStream."""

    def __init__(self, url: str, body: dict[str, Any], timeout: float = 600.0) -> None:
        self.url, self.body, self.timeout = url, body, timeout
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        try:
            response = urllib.request.urlopen(_request(f"{self.url}/ask/stream", self.body), timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise _server_error(exc.code, exc.read()) from None
        except OSError as exc:
            raise ServerUnavailableError(f"no rag serve at {self.url}: {exc}") from exc
        with response:
            for event, data in _events(response):
                if event == "piece":
                    yield data["text"]
                elif event == "answer":
                    self.answer = Answer.from_dict(data)
                elif event == "error":
                    raise _server_error(int(data.get("status", 500)), json.dumps(data).encode())
        if self.answer is None:
            raise RagError(f"rag serve at {self.url} ended the answer stream early")


def _events(lines: Any) -> Iterator[tuple[str, Any]]:
    event, data = "message", ""
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield event, json.loads(data)
            event, data = "message", ""
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data += line[6:]


def _server_error(status: int, body: bytes) -> RagError:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", "replace")[:300]
    kind = InputError if status in (400, 404, 422) else RagError
    return kind(f"rag serve answered {status}: {message}")

"""A stub OpenAI-compatible embeddings server on a loopback port, for the HTTP embedder's
contract tests: real sockets and threads (so concurrency and a server that vanishes are real),
vectors from any in-process embedder, and knobs for what a real server does wrong."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


@dataclass
class Script:
    """What the stub does; tests change it between requests.

    Attributes:
        embedder: where vectors come from (embed_documents).
        model: the model name reported (None: the one requested, as llama-server echoes it).
        key: the bearer key required (None: none).
        failures: statuses answered, one per request, before the next success.
        retry_after: the Retry-After header sent with a failure.
        delay: seconds each request takes.
        dimension: cut vectors to this many dimensions (None: whole).
        scale: multiply vectors (a server that does not normalize).
        noise: add Gaussian noise of this size (a server with other weights or precision).
    """

    embedder: Any
    model: str | None = None
    key: str | None = None
    failures: list[int] = field(default_factory=list)
    retry_after: str | None = None
    delay: float = 0.0
    dimension: int | None = None
    scale: float = 1.0
    noise: float = 0.0
    inputs: list[int] = field(default_factory=list)  # texts per request answered with vectors
    statuses: list[int] = field(default_factory=list)  # every status sent
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class EmbeddingStub:
    """`with EmbeddingStub(embedder) as stub:` serves POST /v1/embeddings at `stub.endpoint`."""

    def __init__(self, embedder: Any, port: int = 0, **script: Any) -> None:
        self.script = Script(embedder, **script)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self.script))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> EmbeddingStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop listening (a server that went away: new connections are refused)."""
        self.server.shutdown()
        self.server.server_close()


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            with script.lock:
                script.in_flight += 1
                script.most_in_flight = max(script.most_in_flight, script.in_flight)
            try:
                time.sleep(script.delay)
                self._answer(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            finally:
                with script.lock:
                    script.in_flight -= 1

        def _answer(self, body: dict[str, Any]) -> None:
            if not self.path.endswith("/embeddings"):
                return self._send(404, {"error": "no such route"})
            if script.key and self.headers.get("Authorization") != f"Bearer {script.key}":
                return self._send(401, {"error": {"message": "invalid api key"}})
            with script.lock:
                failure = script.failures.pop(0) if script.failures else None
            if failure is not None:
                return self._send(failure, {"error": {"message": "busy"}})
            texts = body["input"]
            vectors = np.asarray(script.embedder.embed_documents(texts), dtype=np.float64) * script.scale
            if script.noise:
                vectors = vectors + np.random.default_rng(len(texts)).normal(0, script.noise, vectors.shape)
            vectors = vectors[:, :script.dimension] if script.dimension else vectors
            with script.lock:
                script.inputs.append(len(texts))
            data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
            self._send(200, {"object": "list", "model": script.model or body.get("model"),
                             "data": data[::-1]})  # out of order: the client sorts by index

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if status != 200 and script.retry_after is not None:
                self.send_header("Retry-After", script.retry_after)
            self.end_headers()
            self.wfile.write(raw)
            with script.lock:
                script.statuses.append(status)

    return Handler

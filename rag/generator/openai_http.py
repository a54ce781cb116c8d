"""A generator over HTTP: any OpenAI-compatible chat-completions server (vLLM, llama.cpp's
server, `rag serve`, a hosted API). Of the generator package, only this module imports httpx
(rag.embedding.http is the embeddings' client).

What the HTTP API cannot give: token log-probabilities of arbitrary text (so no refusal margin)
and per-step masking (so extractive mode is decoded freely and the answer's span is located
afterwards when it occurs verbatim). Prompt tokens are estimated from characters, generously,
to fit the prompt in the window, since the server's tokenizer is not at hand; the counts
reported afterwards are the server's own (`usage`, streamed too through
`stream_options.include_usage`).

Greedy answers stay the same for the same question: temperature 0, and on llama.cpp's server
(recognised by its /models listing) `cache_prompt: false`, since reusing a cached prefix
evaluates the rest of the prompt in other batch shapes, which changes the floating-point sums
and, now and then, a greedy token. An answer that ends in a loop (one block repeated) is cut
there, as the local engines cut it (`stop_on_loop`), and the server stops generating.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from rag.errors import ModelLoadError, RagError
from rag.generator.base import Decoding, Generation, Messages, StreamReport
from rag.generator.decoding import ends_in_loop

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 3.0  # English averages ~4 per token; 3 over-counts, so prompts always fit
LOOP_CHARS = dict(min_span=48, max_period=160)  # ends_in_loop on characters: ~12 tokens, ~40 tokens


class GeneratorHTTPError(RagError):
    """The generation server failed or answered something other than chat completions."""


class OpenAICompatibleGenerator:
    """Chat completions from `endpoint` (e.g. http://gpu-box:8000/v1), greedy, streamed.

    Args:
        endpoint: the API base URL, up to and including /v1.
        model: the model name the server expects.
        api_key: sent as `Authorization: Bearer KEY` when given.
        context_window: the server model's window (prompt + answer tokens).
        timeout: seconds to wait for the server (connect and each read).
        stop_on_loop: cut an answer that ends in one block repeated (and stop the server).

    Raises:
        ModelLoadError: the endpoint is not an http(s) URL.
    """

    def __init__(self, endpoint: str, model: str, api_key: str | None = None, context_window: int = 2048,
                 timeout: float = 120.0, stop_on_loop: bool = True) -> None:
        import httpx

        if not endpoint.startswith(("http://", "https://")):
            raise ModelLoadError(f"generator.endpoint must be an http(s) URL; got {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self.model = model
        self.name = f"{model} @ {self.endpoint}"
        self.context_window = context_window
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.endpoint, headers=headers, timeout=timeout)
        self._warned = False
        self.stop_on_loop = stop_on_loop
        self._server_options: dict[str, Any] | None = None  # learnt from /models on first use

    def _options(self) -> dict[str, Any]:
        """Request fields this kind of server needs for repeatable greedy answers."""
        if self._server_options is None:
            import httpx

            try:
                listed = self._client.get("/models").json().get("data") or [{}]
            except httpx.TransportError:
                return {}  # not reachable (yet): the request itself says so; asked again next time
            except Exception:  # noqa: BLE001 - a server without a /models listing: no extra options
                listed = [{}]
            llama_cpp = any(isinstance(m, dict) and m.get("owned_by") == "llamacpp" for m in listed)
            self._server_options = {"cache_prompt": False} if llama_cpp else {}
        return self._server_options

    def count_prompt_tokens(self, messages: Messages) -> int:
        return sum(int(len(m["content"]) / CHARS_PER_TOKEN) + 4 for m in messages) + 4

    def _body(self, messages: Messages, max_new_tokens: int, stream: bool) -> dict[str, Any]:
        body = {"model": self.model, "messages": [dict(m) for m in messages], "max_tokens": max_new_tokens,
                "temperature": 0.0, "stream": stream, **self._options()}
        if stream:
            body["stream_options"] = {"include_usage": True}  # the real token counts, in the last event
        return body

    def generate(self, messages: Messages, max_new_tokens: int) -> Generation:
        """One whole completion."""
        if self.stop_on_loop:  # streamed, so that a loop is cut as it starts and the server stops
            started = time.perf_counter()
            report = StreamReport()
            text = "".join(self.stream(messages, max_new_tokens, report))
            return Generation(text, report.tokens, time.perf_counter() - started, report.prompt_tokens)
        import httpx

        started = time.perf_counter()
        try:
            response = self._client.post("/chat/completions", json=self._body(messages, max_new_tokens, False))
        except httpx.HTTPError as exc:
            raise _unreachable(self.endpoint, exc) from exc
        data = _checked(response)
        text = str(data["choices"][0]["message"].get("content") or "")
        usage = data.get("usage") or {}
        return Generation(text, int(usage.get("completion_tokens", len(text.split()))),
                          time.perf_counter() - started,
                          int(usage.get("prompt_tokens", self.count_prompt_tokens(messages))))

    def stream(self, messages: Messages, max_new_tokens: int, report: StreamReport | None = None,
               decoding: Decoding | None = None) -> Iterator[str]:
        """Yield the server's text deltas as they arrive (server-sent events)."""
        import httpx

        report = StreamReport() if report is None else report
        if decoding is not None and decoding.spans and not self._warned:
            log.warning("extractive mode needs per-token masking, which an HTTP endpoint does not offer: "
                        "answers are decoded freely and their span located afterwards")
            self._warned = True
        pieces = 0
        text = ""
        finished = False  # [DONE] or a finish reason arrived: a stream cut short is an error
        usage: dict[str, Any] = {}
        try:
            with self._client.stream("POST", "/chat/completions",
                                     json=self._body(messages, max_new_tokens, True)) as response:
                if response.status_code >= 400:
                    response.read()
                    _checked(response)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        finished = True
                        break
                    event = json.loads(payload)
                    if "error" in event:
                        raise GeneratorHTTPError(f"generator endpoint {self.endpoint}: {event['error']}")
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or []:
                        finished = finished or bool(choice.get("finish_reason"))
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            pieces += 1
                            text += piece
                            yield piece
                    if self.stop_on_loop and ends_in_loop(text, **LOOP_CHARS):
                        log.info("the answer ended in a loop after %d characters: stopped", len(text))
                        finished = True
                        break  # leaving the stream closes the connection: the server stops
        except httpx.HTTPError as exc:
            raise _unreachable(self.endpoint, exc) from exc
        if not finished:
            raise GeneratorHTTPError(f"generator endpoint {self.endpoint} ended the stream after {pieces} "
                                     "piece(s), before the answer was finished (did the server stop?)")
        report.tokens = int(usage.get("completion_tokens", pieces))
        report.prompt_tokens = int(usage.get("prompt_tokens", self.count_prompt_tokens(messages)))


def _unreachable(endpoint: str, exc: Exception) -> GeneratorHTTPError:
    """The error for a server that cannot be reached or broke off mid-answer."""
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return GeneratorHTTPError(f"cannot reach the generator server at {endpoint} ({exc}): is it running, "
                                  "and is generator.endpoint its http://host:port/v1?")
    return GeneratorHTTPError(f"generator endpoint {endpoint} failed mid-request: {type(exc).__name__}: {exc}")


def _checked(response: Any) -> dict[str, Any]:
    """The JSON body of a successful response; a clear error otherwise."""
    if response.status_code >= 400:
        raise GeneratorHTTPError(f"generator endpoint answered {response.status_code}: {response.text[:300]}")
    try:
        data = response.json()
        data["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise GeneratorHTTPError(f"generator endpoint answered no chat completion: {response.text[:300]}") from None
    return dict(data)

"""A generator over HTTP: any OpenAI-compatible chat-completions server (vLLM, llama.cpp's
server, `rag serve`, a hosted API). Only this module imports httpx.

What the HTTP API cannot give: token log-probabilities of arbitrary text (so no refusal margin)
and per-step masking (so extractive mode is decoded freely and the answer's span is located
afterwards when it occurs verbatim). Prompt tokens are estimated from characters, generously,
since the server's tokenizer is not at hand.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from rag.errors import ModelLoadError, RagError
from rag.generator.base import Decoding, Generation, Messages

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 3.0  # English averages ~4 per token; 3 over-counts, so prompts always fit


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

    Raises:
        ModelLoadError: the endpoint is not an http(s) URL.
    """

    def __init__(self, endpoint: str, model: str, api_key: str | None = None, context_window: int = 2048,
                 timeout: float = 120.0) -> None:
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

    def count_prompt_tokens(self, messages: Messages) -> int:
        return sum(int(len(m["content"]) / CHARS_PER_TOKEN) + 4 for m in messages) + 4

    def _body(self, messages: Messages, max_new_tokens: int, stream: bool) -> dict[str, Any]:
        return {"model": self.model, "messages": [dict(m) for m in messages], "max_tokens": max_new_tokens,
                "temperature": 0.0, "stream": stream}

    def generate(self, messages: Messages, max_new_tokens: int) -> Generation:
        """One whole completion."""
        import httpx

        started = time.perf_counter()
        try:
            response = self._client.post("/chat/completions", json=self._body(messages, max_new_tokens, False))
        except httpx.HTTPError as exc:
            raise GeneratorHTTPError(f"generator endpoint {self.endpoint}: {exc}") from exc
        data = _checked(response)
        text = str(data["choices"][0]["message"].get("content") or "")
        usage = data.get("usage") or {}
        return Generation(text, int(usage.get("completion_tokens", len(text.split()))),
                          time.perf_counter() - started,
                          int(usage.get("prompt_tokens", self.count_prompt_tokens(messages))))

    def stream(self, messages: Messages, max_new_tokens: int, stats: dict[str, Any] | None = None,
               decoding: Decoding | None = None) -> Iterator[str]:
        """Yield the server's text deltas as they arrive (server-sent events)."""
        import httpx

        stats = {} if stats is None else stats
        if decoding is not None and decoding.spans and not self._warned:
            log.warning("extractive mode needs per-token masking, which an HTTP endpoint does not offer: "
                        "answers are decoded freely and their span located afterwards")
            self._warned = True
        pieces = 0
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
                        break
                    event = json.loads(payload)
                    if "error" in event:
                        raise GeneratorHTTPError(f"generator endpoint {self.endpoint}: {event['error']}")
                    usage = event.get("usage") or usage
                    for choice in event.get("choices", []):
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            pieces += 1
                            yield piece
        except httpx.HTTPError as exc:
            raise GeneratorHTTPError(f"generator endpoint {self.endpoint}: {exc}") from exc
        stats.update(tokens=int(usage.get("completion_tokens", pieces)),
                     prompt_tokens=int(usage.get("prompt_tokens", self.count_prompt_tokens(messages))))


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

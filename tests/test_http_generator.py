"""The OpenAI-compatible generator against scripted servers (httpx's mock transport): the
request it sends, real token counts, a loop cut, a stream cut short, a server not there."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from rag.generator.base import StreamReport
from rag.generator.openai_http import GeneratorHTTPError, OpenAICompatibleGenerator

MESSAGES = [{"role": "user", "content": "Who invented packet switching?"}]


def sse(*events: Any, done: bool = True) -> bytes:
    lines = [f"data: {json.dumps(e)}\n\n" for e in events] + (["data: [DONE]\n\n"] if done else [])
    return "".join(lines).encode()


def delta(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def scripted(handler: Callable[[httpx.Request], httpx.Response], owned_by: str = "vllm") -> tuple[
        OpenAICompatibleGenerator, list[dict[str, Any]]]:
    """A generator whose server is `handler` (plus a /models listing); the bodies it was sent."""
    sent: list[dict[str, Any]] = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m", "owned_by": owned_by}]})
        sent.append(json.loads(request.content))
        return handler(request)

    generator = OpenAICompatibleGenerator("http://llm.test/v1", "m")
    generator._client = httpx.Client(base_url="http://llm.test/v1", transport=httpx.MockTransport(route))
    return generator, sent


def test_streams_ask_for_usage_and_report_the_servers_token_counts() -> None:
    usage = {"prompt_tokens": 725, "completion_tokens": 3, "total_tokens": 728}
    body = sse(delta("Donald"), delta(" Davies"), delta("", "stop"), {"choices": [], "usage": usage})
    generator, sent = scripted(lambda r: httpx.Response(200, content=body))
    stats = StreamReport()
    assert "".join(generator.stream(MESSAGES, 64, stats)) == "Donald Davies"
    assert sent[0]["stream_options"] == {"include_usage": True} and sent[0]["temperature"] == 0.0
    assert "cache_prompt" not in sent[0]  # not a llama.cpp server: no fields it would not know
    assert (stats.tokens, stats.prompt_tokens) == (3, 725)


def test_llama_cpp_is_asked_not_to_reuse_its_prompt_cache() -> None:
    body = sse(delta("x", "stop"))
    generator, sent = scripted(lambda r: httpx.Response(200, content=body), owned_by="llamacpp")
    generator.generate(MESSAGES, 8)
    assert sent[0]["cache_prompt"] is False


def test_a_looping_answer_is_cut_and_the_stream_left() -> None:
    pieces = [delta("The answer is:")] + [delta(" The answer is:") for _ in range(60)]
    generator, _ = scripted(lambda r: httpx.Response(200, content=sse(*pieces)))
    text = generator.generate(MESSAGES, 128).text
    assert text.count("The answer is:") < 12  # cut near the start of the loop, not at the 61st piece
    unlooped = OpenAICompatibleGenerator("http://llm.test/v1", "m", stop_on_loop=False)
    unlooped._client = generator._client
    assert "".join(unlooped.stream(MESSAGES, 128)).count("The answer is:") == 61


def test_a_stream_that_ends_before_the_answer_is_finished_is_an_error() -> None:
    generator, _ = scripted(lambda r: httpx.Response(200, content=sse(delta("Donald"), done=False)))
    with pytest.raises(GeneratorHTTPError, match="before the answer was finished"):
        list(generator.stream(MESSAGES, 64))


def test_a_server_error_and_a_server_not_there_are_clear() -> None:
    generator, _ = scripted(lambda r: httpx.Response(500, text="model crashed"))
    with pytest.raises(GeneratorHTTPError, match="answered 500: model crashed"):
        generator.generate(MESSAGES, 8)
    from conftest import free_port

    nowhere = OpenAICompatibleGenerator(f"http://127.0.0.1:{free_port()}/v1", "m", timeout=5)
    with pytest.raises(GeneratorHTTPError, match="cannot reach the generator server"):
        nowhere.generate(MESSAGES, 8)

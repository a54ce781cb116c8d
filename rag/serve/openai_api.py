"""The OpenAI chat-completions shapes: the request, a whole response, a streamed chunk.

The last user message is the question; the RAG answer is the assistant message, and the
sources, span, refusal and timings travel in an extra "rag" field that OpenAI clients ignore.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel, Field

from rag.errors import InputError
from rag.types import Answer


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    messages: list[ChatMessage]
    model: str | None = None
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)  # accepted; decoding is greedy


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return " ".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return content or ""


def question_of(request: ChatRequest) -> str:
    """The last user message's text.

    Raises:
        InputError: no user message with text.
    """
    for message in reversed(request.messages):
        if message.role == "user" and _text(message.content).strip():
            return _text(message.content).strip()
    raise InputError("messages must hold a user message with text (the question)")


def _id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def chat_response(answer: Answer, model: str) -> dict[str, Any]:
    """A whole chat.completion object for `answer`."""
    t = answer.timings
    return {"id": _id(), "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": t.prompt_tokens, "completion_tokens": t.tokens_generated,
                      "total_tokens": t.prompt_tokens + t.tokens_generated},
            "rag": answer.to_dict()}


def chat_chunk(model: str, piece: str | None, answer: Answer | None = None) -> dict[str, Any]:
    """A chat.completion.chunk: a text piece, or (answer given) the final chunk with the
    finish reason and the whole answer object in "rag"."""
    chunk: dict[str, Any] = {"id": _id(), "object": "chat.completion.chunk", "created": int(time.time()),
                             "model": model}
    if answer is None:
        chunk["choices"] = [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]
    else:
        chunk["choices"] = [{"index": 0, "delta": {}, "finish_reason": "stop"}]
        chunk["rag"] = answer.to_dict()
    return chunk

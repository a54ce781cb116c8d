"""What one request to `rag serve` may ask for, checked before any model work: an oversized
question is refused before it is embedded, a huge `max_tokens` before anything is generated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag.errors import InputError
from rag.serve.gate import MAX_WAITING
from rag.serve.trust import MAX_BODY_BYTES


@dataclass(frozen=True)
class ServeLimits:
    """Request limits (each >= 1).

    Args:
        max_body_bytes: a request body's size (413 above).
        max_question_chars: the question (`/ask`'s, or the chat's last user message).
        max_messages: messages in one chat request.
        max_message_chars: all of a chat request's message text together.
        max_waiting: requests queued for the model; one more is a 503 at once.
    """

    max_body_bytes: int = MAX_BODY_BYTES
    max_question_chars: int = 2000
    max_messages: int = 64
    max_message_chars: int = 32_000
    max_waiting: int = MAX_WAITING

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an integer >= 1; got {value!r}")

    def check_question(self, question: str) -> None:
        """Raises InputError: the question is longer than max_question_chars."""
        if isinstance(question, str) and len(question) > self.max_question_chars:
            raise InputError(f"question is {len(question)} characters; this server reads at most "
                             f"{self.max_question_chars} (rag serve --max-question-chars)")

    def check_messages(self, messages: list[Any]) -> None:
        """Raises InputError: too many messages, or too much text in them."""
        if len(messages) > self.max_messages:
            raise InputError(f"messages holds {len(messages)} messages; at most {self.max_messages}")
        size = sum(len(str(m.content or "")) for m in messages)
        if size > self.max_message_chars:
            raise InputError(f"messages hold {size} characters; at most {self.max_message_chars}")

    @staticmethod
    def check_max_tokens(max_tokens: int | None, budget: int) -> None:
        """Raises InputError: `max_tokens` above the answer budget the server generates with."""
        if max_tokens is not None and max_tokens > budget:
            raise InputError(f"max_tokens ({max_tokens}) exceeds this server's answer budget of {budget} "
                             "tokens (generator.max_new_tokens)")

"""The generator engine: prompt within the context window, generate (streamed), read the
answer back (refusal, the model's margin, cited blocks, its span in the blocks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Generator as PyGenerator

from rag.answer.base import Draft
from rag.answer.prompt import Prompt, build_prompt, cited_blocks, is_refusal
from rag.answer.spans import locate, make_span
from rag.generator import Generator
from rag.generator.base import Decoding, Laned, StreamReport
from rag.types import Hit, Span

PROMPT_MARGIN_TOKENS = 8


class GenerativeAnswerer:
    """Answers with a Generator (loaded on first use when given as a function).

    Args:
        generator: a Generator, or a function returning one.
        template: the prompt template's text (rag.answer.prompt.load_template).
        refusal: the refusal sentence; max_new_tokens: the answer's length limit.
        mode: "free", or "extractive" (only a verbatim span of one block, or the refusal).
        check: (question, answer, hits) -> the probability the answer is right, or None
            (rag.answer.verify.generated.GeneratedCheck); None = answers carry no confidence.
    """

    engine = "generator"
    withdraw_reason = "refusal_threshold"

    def __init__(self, generator: Generator | Callable[[], Generator], template: str, refusal: str,
                 max_new_tokens: int = 128, mode: str = "free",
                 check: Callable[[str, str, tuple[Hit, ...]], float | None] | None = None) -> None:
        self._generator = generator
        self.check = check
        self.template = template
        self.refusal = refusal
        self.max_new_tokens = max_new_tokens
        self.mode = mode

    @property
    def loaded(self) -> bool:
        return not (callable(self._generator) and not hasattr(self._generator, "generate"))

    @property
    def generator(self) -> Generator:
        if not self.loaded:
            self._generator = self._generator()  # type: ignore[operator]
        return self._generator  # type: ignore[return-value]

    def load(self) -> None:
        self.generator  # noqa: B018 - the property loads it

    def lanes(self) -> int:
        if not self.loaded:
            return 1
        return self.generator.lane_count() if isinstance(self.generator, Laned) else 1

    def capped(self, max_new_tokens: int) -> GenerativeAnswerer:
        """This answerer, sharing its generator (loaded once, by whichever uses it first), with a
        lower answer length limit."""
        shared = self._generator if self.loaded else (lambda: self.generator)
        return GenerativeAnswerer(shared, self.template, self.refusal,
                                  min(max_new_tokens, self.max_new_tokens), self.mode, self.check)

    def draft(self, question: str, hits: tuple[Hit, ...]) -> PyGenerator[str, None, Draft]:
        """Prompt, generate and read back one answer from `hits` in the order given."""
        # 1. Prompt within the context window, leaving room for the answer.
        generator = self.generator
        budget = generator.context_window - self.max_new_tokens - PROMPT_MARGIN_TOKENS
        prompt = build_prompt(question, hits, template=self.template, refusal=self.refusal,
                              count_tokens=generator.count_prompt_tokens, budget=budget)
        # 2. Generate, streaming pieces to the caller; extractive mode copies from the blocks.
        decoding = Decoding(prompt.texts if self.mode == "extractive" else (), self.refusal)
        started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        report = StreamReport()
        for piece in generator.stream(prompt.messages, self.max_new_tokens, report, decoding):
            if first is None:
                first = time.perf_counter() - started
            pieces.append(piece)
            yield piece
        seconds = time.perf_counter() - started
        # 3. Read the answer back: refusal, the model's margin, where it lies in the blocks.
        text = "".join(pieces).strip()
        refused = is_refusal(text, self.refusal)
        margin = report.margin
        span = None if refused else _span(text, prompt, report.span)
        if span is not None and report.span is not None:  # extractive: the text is the span
            text = prompt.texts[span.block - 1][span.start:span.end]
        cited = cited_blocks(text, len(prompt.hits)) or ((span.block,) if span else ())
        confidence = None if refused or self.check is None else self.check(question, text, prompt.hits)
        return Draft(text, refused, prompt.hits, span, margin, cited, seconds=seconds, first_piece=first,
                     tokens=report.tokens, input_tokens=report.prompt_tokens or prompt.tokens,
                     confidence=confidence)


def _span(text: str, prompt: Prompt, decoded: tuple[int, int, int] | None) -> Span | None:
    """Where the answer lies: the decoder's own span in extractive mode, else a verbatim match."""
    found = tuple(decoded) if decoded is not None else locate(text, prompt.texts)
    if found is None:
        return None
    index, start, end = found
    return make_span(index + 1, prompt.hits[index].chunk.id, prompt.texts[index], start, end)

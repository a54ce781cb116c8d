"""Answering: the `Answerer` seam and its two engines (the extractive reader, the generator),
with what answering needs: the prompt, spans, voting and groundedness."""

from rag.answer.base import Answerer, Draft

__all__ = ["Answerer", "Draft"]

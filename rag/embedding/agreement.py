"""Whether two embedders give the same vectors: the minimum cosine over a fixed probe set.

A server that serves the same weights as a local model (all-MiniLM-L6-v2 on llama.cpp, vLLM or
Infinity) may still compute other vectors: another tokenizer, pooling or precision. An index
accepts vectors from both only when they agree (AGREEMENT_MIN on every probe); rag.store.base
applies the rule, the ingest records the measurement.
"""

from __future__ import annotations

import numpy as np

from rag.embedding.base import Embedder

AGREEMENT_MIN = 0.999
LOCAL = "local"  # the origin of vectors computed in process (ONNX or PyTorch: the same vectors)
PROBES = (
    "Who invented packet switching?",
    "The Treaty of Westphalia was signed in 1648, ending the Thirty Years' War.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "def embed_query(self, text: str) -> np.ndarray: return self._batch([text])[0]",
    "Revenue rose 12.5 % year over year to $4.2 billion in Q3 2024.",
    "Die Katze sitzt auf der Matte und schläft.",
    "Press and hold the reset button for ten seconds until the LED blinks amber.",
    "mitochondria",
    "A very long sentence " + "that keeps going with more clauses and words " * 60,
    "¿Dónde está la biblioteca? 图书馆在哪里？",
    "E = mc^2, where c is the speed of light in a vacuum (299,792,458 m/s).",
    "The patient reported mild headaches, nausea and blurred vision after the second dose.",
)


def agreement(first: Embedder, second: Embedder) -> float:
    """The lowest cosine between the two embedders' vectors of each probe text (1.0: identical).

    Raises:
        ValueError: the two embed into different dimensions.
    """
    if first.dimension != second.dimension:
        raise ValueError(f"embedders of {first.dimension} and {second.dimension} dimensions cannot agree")
    a = first.embed_documents(list(PROBES))
    b = second.embed_documents(list(PROBES))
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float(np.min(np.sum(a * b, axis=1)))

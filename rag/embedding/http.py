"""Embeddings from a server: any OpenAI-compatible /v1/embeddings endpoint (vLLM, llama.cpp's
`llama-server --embedding`, Infinity, Text Embeddings Inference, Ollama, a hosted API).

Chunks go in batches of `batch_size` texts per request, `concurrency` requests in flight at once;
a request answered 429 or 5xx, or timed out, or refused while a balancer restarts, is retried
with exponential backoff (the server's Retry-After wins when it sends one). A 401/403 is not
retried. Every row is L2-normalized here: normalization is the index's, whatever the server does.

The model's name is the one the server reports, its dimension the length of a probe's vector
(both asked once, when the embedder is made; a server that is not there fails right then,
naming the URL). Tokens are counted with the model's own tokenizer when it resolves here
(`embedding.tokenizer`, else the model's name); otherwise estimated generously from characters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding.base import read_json, resolve_embedding_model
from rag.errors import ModelLoadError, RagError

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 3.0  # English averages ~4; 3 over-counts, so estimated chunks always fit
ESTIMATED_MAX_TOKENS = 512
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class EmbeddingServerError(RagError):
    """The embedding server is not there, refused us, or answered something else than vectors."""


class HttpEmbedder:
    """Normalized vectors from `endpoint`'s /embeddings.

    Args:
        endpoint: the API base URL, up to and including /v1 (e.g. http://gpu-box:8000/v1).
        model: the model name sent with each request (what the server serves).
        api_key: sent as `Authorization: Bearer KEY` when given.
        batch_size: texts per request; concurrency: requests in flight at once.
        timeout: seconds per request (connect and read); retries: attempts after the first.
        tokenizer: a packaged model name or local folder whose tokenizer.json counts tokens
            (None: `model` when it resolves here, else an estimate from characters).

    Raises:
        ModelLoadError: the endpoint is not an http(s) URL, or a setting is out of range.
        EmbeddingServerError: the server is not there or does not answer with vectors.
    """

    remote = True  # rag.ingest embeds the next group while it writes the current one
    local_agreement: float | None = None  # min probe cosine with the local model (rag.pipeline.embedders)

    def __init__(self, endpoint: str, model: str, api_key: str | None = None, batch_size: int = 32,
                 concurrency: int = 4, timeout: float = 60.0, retries: int = 4, tokenizer: str | None = None) -> None:
        import httpx

        if not endpoint.startswith(("http://", "https://")):
            raise ModelLoadError(f"embedding.endpoint must be an http(s) URL; got {endpoint!r}")
        if batch_size < 1 or concurrency < 1 or retries < 0:
            raise ModelLoadError(f"embedding over HTTP needs batch_size >= 1, concurrency >= 1 and "
                                 f"retries >= 0; got {batch_size}, {concurrency}, {retries}")
        self.endpoint = endpoint.rstrip("/")
        self.origin = self.endpoint  # what an index records of where its vectors came from
        self.requested = model
        self.batch_size, self.concurrency, self.retries = batch_size, concurrency, retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers,
                                    limits=httpx.Limits(max_connections=concurrency))
        self._encoder, self.max_tokens = _tokenizer(tokenizer or model)
        probe, reported = self._request(["dimension probe"])
        self.name = reported or model
        self.dimension = int(probe.shape[1])

    def count_tokens(self, text: str) -> int:
        if self._encoder is None:
            return int(len(text) / CHARS_PER_TOKEN) + 2
        return len(self._encoder.encode(text, add_special_tokens=True).ids)

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = [self._truncated(t) for t in texts]
        batches = [texts[i:i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        with ThreadPoolExecutor(min(self.concurrency, len(batches)), thread_name_prefix="embed-http") as pool:
            parts = list(pool.map(self._batch, batches))
        return np.concatenate(parts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._batch([self._truncated(text)])[0]

    def close(self) -> None:
        self._client.close()

    def _truncated(self, text: str) -> str:
        """`text` cut after the tokens the local model reads (its limit, special tokens
        included), as sentence-transformers truncates: a server would refuse or read more."""
        if self._encoder is None:
            return text
        offsets = self._encoder.encode(text, add_special_tokens=False).offsets
        keep = self.max_tokens - len(self._encoder.encode("", add_special_tokens=True).ids)  # [CLS], [SEP]
        return text if len(offsets) <= keep else text[:offsets[keep - 1][1]]

    def _batch(self, texts: list[str]) -> np.ndarray:
        vectors, reported = self._request(texts)
        if reported and reported != self.name:
            raise EmbeddingServerError(f"embedding server {self.endpoint} now serves {reported!r}, "
                                       f"not {self.name!r}: the index's vectors would mix two models")
        if vectors.shape[1] != self.dimension:
            raise EmbeddingServerError(f"embedding server {self.endpoint} sent {vectors.shape[1]}-dim "
                                       f"vectors; {self.name!r} gave {self.dimension}")
        return vectors

    def _request(self, texts: list[str]) -> tuple[np.ndarray, str | None]:
        """(normalized vectors in input order, the model name the server reported)."""
        body = self._post({"model": self.requested, "input": texts, "encoding_format": "float"})
        try:
            rows = sorted(body["data"], key=lambda row: int(row.get("index", 0)))
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingServerError(f"embedding server {self.endpoint} answered without vectors "
                                       f"({type(exc).__name__}: {exc})") from None
        if vectors.ndim != 2 or len(vectors) != len(texts) or not np.isfinite(vectors).all():
            raise EmbeddingServerError(f"embedding server {self.endpoint} sent {len(vectors)} usable "
                                       f"vectors for {len(texts)} texts")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        reported = body.get("model")
        return vectors / np.maximum(norms, 1e-12), str(reported) if reported else None

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST /embeddings, retrying what a busy or restarting server answers."""
        import httpx

        url = f"{self.endpoint}/embeddings"
        for attempt in range(self.retries + 1):
            wait = 0.5 * 2 ** attempt
            try:
                response = self._client.post(url, json=payload)
            except (httpx.TimeoutException, httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code in (401, 403):
                    raise EmbeddingServerError(f"embedding server {url} refused the key (HTTP "
                                               f"{response.status_code}): set the variable embedding.api_key_env names")
                if response.status_code not in RETRY_STATUS:
                    return _json(response, url)
                failure = f"HTTP {response.status_code}"
                asked = _retry_after(response)
                wait = wait if asked is None else asked
            if attempt < self.retries:
                log.warning("embedding server %s: %s; retrying in %.1f s", url, failure, wait)
                time.sleep(wait)
        raise EmbeddingServerError(f"embedding server {url} failed after {self.retries + 1} attempts: {failure}")


def _json(response: Any, url: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise EmbeddingServerError(f"embedding server {url} answered HTTP {response.status_code}: "
                                   f"{response.text[:300]}")
    try:
        body = response.json()
    except ValueError:
        raise EmbeddingServerError(f"embedding server {url} answered something other than JSON") from None
    if not isinstance(body, dict):
        raise EmbeddingServerError(f"embedding server {url} answered {type(body).__name__}, not an object")
    return body


def _retry_after(response: Any) -> float | None:
    try:
        return min(30.0, max(0.0, float(response.headers.get("retry-after", ""))))
    except ValueError:
        return None


def _tokenizer(name: str) -> tuple[Any, int]:
    """(the tokenizer of a model that resolves here, its token limit), else (None, an estimate)."""
    try:
        folder = resolve_embedding_model(name)
    except ModelLoadError:
        log.warning("embedding model %r has no tokenizer here: chunk sizes are estimated from characters "
                    "(set embedding.tokenizer to a local model folder to count exactly)", name)
        return None, ESTIMATED_MAX_TOKENS
    if not (Path(folder) / "tokenizer.json").is_file():
        return None, ESTIMATED_MAX_TOKENS
    from tokenizers import Tokenizer

    encoder = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    encoder.no_truncation()  # counted as SentenceTransformerEmbedder counts: the same chunks
    encoder.no_padding()
    limit = read_json(Path(folder) / "sentence_bert_config.json").get("max_seq_length")
    return encoder, int(limit or ESTIMATED_MAX_TOKENS)

"""The configuration's sections: frozen dataclasses that validate themselves. Errors name the
key (`section.key`), the value and what is allowed. Loading and overriding live in rag.config."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from rag.embedding.registry import embedding_backend
from rag.errors import ConfigError, invalid_setting
from rag.retrieval.settings import RetrievalConfig

DEFAULT_GENERATOR_MODEL = "SmolLM2-135M-Instruct"
DEFAULT_REFUSAL = "I don't know."
# The LoRA adapter shipped in rag/adapters/ and used unless told otherwise (adapter = none):
# on held-apart SQuAD 2.0 articles it beat the base model (see the README's Fine-tune figures).
DEFAULT_ADAPTER = "squad2-grounded"

ANSWER_MODES = ("free", "extractive")
ANSWER_ENGINES = ("reader", "generator")
READER_BACKENDS = ("onnx", "torch")
# The extractive reader shipped in rag/readers/ (MiniLM-L6 + span head, trained by rag train-reader).
DEFAULT_READER = "squad2-minilm"


@dataclass(frozen=True)
class IndexConfig:
    """Where chunks live. `chroma_url` (http://host:port) selects a Chroma server instead."""

    path: str = "rag_index"
    collection: str = "documents"
    chroma_url: str | None = None

    def __post_init__(self) -> None:
        if not self.path.strip():
            raise invalid_setting("index.path", self.path, "a non-empty path")
        if not (3 <= len(self.collection) <= 54) or not self.collection.replace("-", "").replace("_", "").isalnum():
            raise invalid_setting("index.collection", self.collection,
                        "3-54 characters of letters, digits, '-' or '_'")
        if self.chroma_url is not None and not self.chroma_url.startswith(("http://", "https://")):
            raise invalid_setting("index.chroma_url", self.chroma_url, "a URL starting with http:// or https://")


@dataclass(frozen=True)
class EmbeddingConfig:
    """The embedding model and the backend that runs it (rag.embedding.registry): the packaged
    name or a local model folder in process, or the model a server serves (`endpoint`).

    None means: the model the index was built with, or the default for a new index. Setting
    `endpoint` (or RAG_EMBEDDING_ENDPOINT, or --embedding-endpoint) picks the "http" backend.
    """

    model: str | None = None
    batch_size: int = 32
    backend: str = "onnx"  # ONNX Runtime (same vectors, no torch import); "torch" = PyTorch; "http" = endpoint
    endpoint: str | None = None  # an OpenAI-compatible server's base URL up to /v1
    api_key_env: str = "RAG_EMBEDDING_API_KEY"  # the variable holding the server's key, if any
    concurrency: int = 4  # requests in flight at once
    timeout: float = 60.0  # seconds per request
    retries: int = 4  # attempts after the first on 429, 5xx, timeouts and refused connections
    tokenizer: str | None = None  # a local folder whose tokenizer counts a server model's tokens

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise invalid_setting("embedding.batch_size", self.batch_size, "an integer >= 1")
        if self.concurrency < 1:
            raise invalid_setting("embedding.concurrency", self.concurrency, "an integer >= 1")
        if self.retries < 0:
            raise invalid_setting("embedding.retries", self.retries, "an integer >= 0")
        if self.timeout <= 0:
            raise invalid_setting("embedding.timeout", self.timeout, "seconds > 0")
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            raise invalid_setting("embedding.endpoint", self.endpoint, "a URL starting with http:// or https://")
        if self.endpoint and self.backend == "onnx":
            object.__setattr__(self, "backend", "http")  # an endpoint picks the server
        remote = embedding_backend(self.backend).remote
        if remote and not self.endpoint:
            raise ConfigError(f'embedding.backend = "{self.backend}" needs embedding.endpoint, the server\'s '
                              "base URL up to /v1 (or RAG_EMBEDDING_ENDPOINT, or --embedding-endpoint)")
        if self.endpoint and not remote:
            raise ConfigError(f"embedding.endpoint is set but embedding.backend = {self.backend!r} embeds "
                              'in process; leave embedding.backend unset or "http"')


@dataclass(frozen=True)
class ChunkingConfig:
    """Chunk size and overlap, in tokens of the embedding model's tokenizer."""

    chunk_size_tokens: int = 200
    chunk_overlap_tokens: int = 30

    def __post_init__(self) -> None:
        if self.chunk_size_tokens < 16:
            raise invalid_setting("chunking.chunk_size_tokens", self.chunk_size_tokens, "an integer >= 16")
        if not 0 <= self.chunk_overlap_tokens < self.chunk_size_tokens:
            raise ConfigError(
                f"chunking.chunk_overlap_tokens ({self.chunk_overlap_tokens}) must be >= 0 and "
                f"less than chunking.chunk_size_tokens ({self.chunk_size_tokens})")


@dataclass(frozen=True)
class GeneratorConfig:
    """The local causal LM, its LoRA adapter (a packaged name or a folder; None = the base model
    alone) and decoding settings. With `endpoint` (an OpenAI-compatible http://host:port/v1) the
    model is the server's `model`, its API key read from the variable named by `api_key_env`."""

    model: str = DEFAULT_GENERATOR_MODEL
    backend: str = "onnx"  # ONNX Runtime (same answers, no torch import); "torch" = PyTorch; "http" = endpoint
    endpoint: str | None = None
    api_key_env: str = "RAG_GENERATOR_API_KEY"
    timeout: float = 120.0
    gguf_file: str | None = None
    adapter: str | None = DEFAULT_ADAPTER
    merge_adapter: bool = True
    max_new_tokens: int = 128
    context_window: int = 2048
    cache_dir: str | None = None
    threads: int | None = None
    stop_on_loop: bool = True
    prefix_cache: bool = True
    lanes: int = 2  # answers one loaded ONNX generator runs at once (rag serve); PyTorch: 1

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= 4096:
            raise invalid_setting("generator.max_new_tokens", self.max_new_tokens, "an integer from 1 to 4096")
        if self.context_window < 256:
            raise invalid_setting("generator.context_window", self.context_window, "an integer >= 256")
        if self.max_new_tokens >= self.context_window // 2:
            raise ConfigError(
                f"generator.max_new_tokens ({self.max_new_tokens}) must be less than half of "
                f"generator.context_window ({self.context_window}) to leave room for the context")
        if self.threads is not None and self.threads < 1:
            raise invalid_setting("generator.threads", self.threads, "an integer >= 1")
        if not 1 <= self.lanes <= 64:
            raise invalid_setting("generator.lanes", self.lanes, "an integer from 1 to 64")
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise invalid_setting("generator.endpoint", self.endpoint, "a URL starting with http:// or https://")
        if self.timeout <= 0:
            raise invalid_setting("generator.timeout", self.timeout, "seconds > 0")
        if self.backend not in ("onnx", "torch", "http"):
            raise invalid_setting("generator.backend", self.backend, '"onnx", "torch" or "http" (with generator.endpoint)')
        if self.backend == "http" and not self.endpoint:
            raise ConfigError('generator.backend = "http" needs generator.endpoint, the server\'s '
                              'http://host:port/v1 (an OpenAI-compatible server: llama-server, vLLM, rag serve)')
        if self.backend == "onnx" and not self.merge_adapter and self.adapter is not None:
            warnings.warn("generator.merge_adapter = false runs the generator on PyTorch: the ONNX "
                          "backend needs the adapter merged into the weights", stacklevel=3)


@dataclass(frozen=True)
class PromptConfig:
    """The grounded prompt. `template` is a path to a text file or the template itself;
    it must contain {context} and {question}. None uses the built-in template."""

    template: str | None = None
    refusal: str = DEFAULT_REFUSAL
    snippet_chars: int = 200

    def __post_init__(self) -> None:
        if not self.refusal.strip():
            raise invalid_setting("prompt.refusal", self.refusal, "a non-empty sentence")
        if self.snippet_chars < 0:
            raise invalid_setting("prompt.snippet_chars", self.snippet_chars, "an integer >= 0")


@dataclass(frozen=True)
class AnswerConfig:
    """Who answers, and how an answer is checked.

    engine: "reader" (the extractive reader: a verbatim span of one chunk, or the refusal) or
        "generator" (the [generator] section's model writes the answer).
    reader: the reader folder or a packaged reader's name; reader_backend: "onnx" or "torch".
    mode: the generator's decoding: "free" text, or "extractive" (only a verbatim span of one
        retrieved chunk, or the refusal).
    refusal_threshold: refuse when the engine's margin is below it (the reader's no-answer gap,
        the generator's log P(answer) - log P(refusal)); None takes the threshold in the
        reader's or the adapter's card (no card: no such check).
    min_confidence: with a verifier in the reader's card, refuse when its confidence (the
        probability the answer is right) is below this instead; None takes the card's.
    calibrated_refusal: false turns those checks off whatever the thresholds.
    min_support: withdraw a generated answer whose groundedness against the retrieved chunks
        is below this, from 0 to 1; None turns it off. (A reader's span is verbatim.)
    votes: drafts per question, each seeing the retrieved chunks in another order; the
        majority (after normalisation) is returned, a refusal when there is none. 1 = no voting.
    """

    engine: str = "reader"  # beat the generator on every held-apart SQuAD 2.0 figure (README)
    reader: str = DEFAULT_READER
    reader_backend: str = "onnx"
    mode: str = "extractive"  # chosen on held-apart SQuAD 2.0 figures with the default adapter
    refusal_threshold: float | None = None
    min_confidence: float | None = None
    calibrated_refusal: bool = True
    min_support: float | None = 0.3
    votes: int = 1

    def __post_init__(self) -> None:
        if self.engine not in ANSWER_ENGINES:
            raise invalid_setting("answer.engine", self.engine, " or ".join(map(repr, ANSWER_ENGINES)))
        if not self.reader.strip():
            raise invalid_setting("answer.reader", self.reader, "a reader folder or packaged reader name")
        if self.reader_backend not in READER_BACKENDS:
            raise invalid_setting("answer.reader_backend", self.reader_backend, " or ".join(map(repr, READER_BACKENDS)))
        if self.mode not in ANSWER_MODES:
            raise invalid_setting("answer.mode", self.mode, " or ".join(map(repr, ANSWER_MODES)))
        if self.refusal_threshold is not None and not -1e4 < self.refusal_threshold < 1e4:
            raise invalid_setting("answer.refusal_threshold", self.refusal_threshold, "a margin "
                        "between -10000 and 10000, or none")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise invalid_setting("answer.min_confidence", self.min_confidence, "a probability from 0 to 1, or none")
        if self.min_support is not None and not 0.0 <= self.min_support <= 1.0:
            raise invalid_setting("answer.min_support", self.min_support, "a score from 0 to 1, or none")
        if not 1 <= self.votes <= 15:
            raise invalid_setting("answer.votes", self.votes, "an integer from 1 to 15")


@dataclass(frozen=True)
class PdfConfig:
    """How PDF text is read: `extractor` "pdfium" (PDFium: words keep their spaces; the
    default) or "pypdf" (the text of earlier versions). Changing it re-reads every PDF on the
    next ingest."""

    extractor: str = "pdfium"

    def __post_init__(self) -> None:
        from rag.ingest.pdf.extractors import EXTRACTORS

        if self.extractor not in EXTRACTORS:
            raise invalid_setting("pdf.extractor", self.extractor, " or ".join(map(repr, EXTRACTORS)))


@dataclass(frozen=True)
class RagConfig:
    """The whole configuration tree."""

    index: IndexConfig = field(default_factory=IndexConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    pdf: PdfConfig = field(default_factory=PdfConfig)

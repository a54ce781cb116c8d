"""One configuration tree: defaults < rag.toml < environment < explicit overrides (CLI flags).

Every section is a frozen dataclass that validates itself. Errors name the key
(`section.key`), the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import os
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from rag.errors import ConfigError

CONFIG_FILE_NAME = "rag.toml"
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
DEFAULT_GENERATOR_MODEL = "SmolLM2-135M-Instruct"
DEFAULT_REFUSAL = "I don't know."

# Environment variables a deployment needs; each maps to one dotted key.
ENV_VARS = {"RAG_INDEX": "index.path", "RAG_CHROMA_URL": "index.chroma_url"}

# Short names accepted by `set_option` (eval variants such as `k=8`, `adapter=PATH`).
ALIASES = {"k": "retrieval.k", "min_score": "retrieval.min_score",
           "adapter": "generator.adapter", "max_new_tokens": "generator.max_new_tokens",
           "index": "index.path", "model": "generator.model", "min_support": "answer.min_support",
           "mode": "answer.mode", "refusal_threshold": "answer.refusal_threshold"}
ANSWER_MODES = ("free", "extractive")


def _fail(key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{key} = {value!r} is invalid: expected {allowed}")


@dataclass(frozen=True)
class IndexConfig:
    """Where chunks live. `chroma_url` (http://host:port) selects a Chroma server instead."""

    path: str = "rag_index"
    collection: str = "documents"
    chroma_url: str | None = None

    def __post_init__(self) -> None:
        if not self.path.strip():
            raise _fail("index.path", self.path, "a non-empty path")
        if not (3 <= len(self.collection) <= 54) or not self.collection.replace("-", "").replace("_", "").isalnum():
            raise _fail("index.collection", self.collection,
                        "3-54 characters of letters, digits, '-' or '_'")
        if self.chroma_url is not None and not self.chroma_url.startswith(("http://", "https://")):
            raise _fail("index.chroma_url", self.chroma_url, "a URL starting with http:// or https://")


@dataclass(frozen=True)
class EmbeddingConfig:
    """The sentence-transformers model: the packaged name or a local model folder.

    None means: the model the index was built with, or the default for a new index.
    """

    model: str | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise _fail("embedding.batch_size", self.batch_size, "an integer >= 1")


@dataclass(frozen=True)
class ChunkingConfig:
    """Chunk size and overlap, in tokens of the embedding model's tokenizer."""

    chunk_size_tokens: int = 200
    chunk_overlap_tokens: int = 30

    def __post_init__(self) -> None:
        if self.chunk_size_tokens < 16:
            raise _fail("chunking.chunk_size_tokens", self.chunk_size_tokens, "an integer >= 16")
        if not 0 <= self.chunk_overlap_tokens < self.chunk_size_tokens:
            raise ConfigError(
                f"chunking.chunk_overlap_tokens ({self.chunk_overlap_tokens}) must be >= 0 and "
                f"less than chunking.chunk_size_tokens ({self.chunk_size_tokens})")


@dataclass(frozen=True)
class RetrievalConfig:
    """How many chunks to retrieve, and the score under which `ask` refuses without generating."""

    k: int = 4
    min_score: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 100:
            raise _fail("retrieval.k", self.k, "an integer from 1 to 100")
        if self.min_score is not None and not -1.0 <= self.min_score <= 1.0:
            raise _fail("retrieval.min_score", self.min_score, "a cosine similarity from -1 to 1")


@dataclass(frozen=True)
class GeneratorConfig:
    """The local causal LM, an optional LoRA adapter and decoding settings."""

    model: str = DEFAULT_GENERATOR_MODEL
    gguf_file: str | None = None
    adapter: str | None = None
    merge_adapter: bool = False
    max_new_tokens: int = 128
    context_window: int = 2048
    cache_dir: str | None = None
    threads: int | None = None
    stop_on_loop: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= 4096:
            raise _fail("generator.max_new_tokens", self.max_new_tokens, "an integer from 1 to 4096")
        if self.context_window < 256:
            raise _fail("generator.context_window", self.context_window, "an integer >= 256")
        if self.max_new_tokens >= self.context_window // 2:
            raise ConfigError(
                f"generator.max_new_tokens ({self.max_new_tokens}) must be less than half of "
                f"generator.context_window ({self.context_window}) to leave room for the context")
        if self.threads is not None and self.threads < 1:
            raise _fail("generator.threads", self.threads, "an integer >= 1")
        if self.merge_adapter and self.adapter is None:
            warnings.warn("generator.merge_adapter is set but no generator.adapter is given; "
                          "it is ignored", stacklevel=3)


@dataclass(frozen=True)
class PromptConfig:
    """The grounded prompt. `template` is a path to a text file or the template itself;
    it must contain {context} and {question}. None uses the built-in template."""

    template: str | None = None
    refusal: str = DEFAULT_REFUSAL
    snippet_chars: int = 200

    def __post_init__(self) -> None:
        if not self.refusal.strip():
            raise _fail("prompt.refusal", self.refusal, "a non-empty sentence")
        if self.snippet_chars < 0:
            raise _fail("prompt.snippet_chars", self.snippet_chars, "an integer >= 0")


@dataclass(frozen=True)
class AnswerConfig:
    """How an answer is decoded and checked.

    mode: "free" text, or "extractive" (only a verbatim span of one retrieved chunk, or the
        refusal). refusal_threshold: refuse when log P(answer) - log P(refusal) is below it;
        None takes the threshold in the adapter's card (no adapter or card: no such check).
    calibrated_refusal: false turns that check off whatever the threshold.
    min_support: withdraw an answer whose groundedness against the retrieved chunks is below
        this, from 0 to 1; None turns it off.
    """

    mode: str = "free"
    refusal_threshold: float | None = None
    calibrated_refusal: bool = True
    min_support: float | None = 0.3

    def __post_init__(self) -> None:
        if self.mode not in ANSWER_MODES:
            raise _fail("answer.mode", self.mode, " or ".join(map(repr, ANSWER_MODES)))
        if self.refusal_threshold is not None and not -1e4 < self.refusal_threshold < 1e4:
            raise _fail("answer.refusal_threshold", self.refusal_threshold, "a log-probability margin "
                        "between -10000 and 10000, or none")
        if self.min_support is not None and not 0.0 <= self.min_support <= 1.0:
            raise _fail("answer.min_support", self.min_support, "a score from 0 to 1, or none")


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


SECTIONS: dict[str, type] = {f.name: typing.get_type_hints(RagConfig)[f.name]
                             for f in dataclasses.fields(RagConfig)}


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Convert `value` (from TOML, env or a CLI string) to the field's type."""
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if value is None or (optional and isinstance(value, str) and value.lower() in ("", "none")):
        if optional:
            return None
        raise _fail(key, value, f"a value of type {base.__name__}")
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError
        if base is int and isinstance(value, float):
            raise ValueError
        if base in (int, float) and isinstance(value, bool):
            raise ValueError
        return base(value)
    except (TypeError, ValueError):
        raise _fail(key, value, f"a value of type {base.__name__}") from None


def set_option(config: RagConfig, key: str, value: Any) -> RagConfig:
    """Return a copy of `config` with one dotted key (or alias such as `k`) set."""
    return apply_options(config, {key: value})


def apply_options(config: RagConfig, options: Mapping[str, Any]) -> RagConfig:
    """Return a copy of `config` with dotted keys set; unknown keys are an error."""
    grouped: dict[str, dict[str, Any]] = {}
    for raw_key, value in options.items():
        key = ALIASES.get(raw_key, raw_key)
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name:
            raise ConfigError(f"unknown configuration key {raw_key!r}; expected one of "
                              f"{', '.join(sorted(all_keys()))} or {', '.join(sorted(ALIASES))}")
        hints = typing.get_type_hints(SECTIONS[section])
        if name not in hints:
            raise ConfigError(f"unknown configuration key {key!r}; section [{section}] has "
                              f"{', '.join(hints)}")
        grouped.setdefault(section, {})[name] = _coerce(key, value, hints[name])
    updated = {s: dataclasses.replace(getattr(config, s), **kv) for s, kv in grouped.items()}
    return dataclasses.replace(config, **updated)


def all_keys() -> list[str]:
    """Every dotted key the configuration accepts."""
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def _flatten_toml(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: top-level key {section!r} must be a [section] table")
        for name, value in body.items():
            flat[f"{section}.{name}"] = value
    return flat


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None, cwd: Path | None = None) -> RagConfig:
    """Build the configuration: defaults < rag.toml < environment < `overrides`.

    Args:
        path: a TOML file; None looks for rag.toml in `cwd` (the working directory).
        env: environment mapping (defaults to os.environ); see ENV_VARS.
        overrides: dotted keys (or aliases) to set last, e.g. from CLI flags. None values are skipped.

    Returns:
        The validated RagConfig.

    Raises:
        ConfigError: a missing or malformed file, an unknown key or an invalid value.
    """
    config = RagConfig()
    if path is None:
        candidate = (cwd or Path.cwd()) / CONFIG_FILE_NAME
        path = candidate if candidate.is_file() else None
    elif not Path(path).is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        config = apply_options(config, _flatten_toml(data, Path(path)))
    env = os.environ if env is None else env
    from_env = {key: env[var] for var, key in ENV_VARS.items() if env.get(var)}
    config = apply_options(config, from_env)
    return apply_options(config, {k: v for k, v in (overrides or {}).items() if v is not None})

"""The configuration: one tree of frozen dataclasses (sections), loaded from defaults < rag.toml
< environment < explicit overrides (load). Only the wiring (rag.pipeline) and the CLI read it;
components take plain values."""

from rag.config.load import (
    ALIASES,
    CONFIG_FILE_NAME,
    ENV_VARS,
    SECTIONS,
    all_keys,
    apply_options,
    load_config,
    set_option,
)
from rag.config.sections import (
    ANSWER_ENGINES,
    ANSWER_MODES,
    DEFAULT_ADAPTER,
    DEFAULT_GENERATOR_MODEL,
    DEFAULT_READER,
    DEFAULT_REFUSAL,
    READER_BACKENDS,
    AnswerConfig,
    ChunkingConfig,
    EmbeddingConfig,
    GeneratorConfig,
    IndexConfig,
    PromptConfig,
    RagConfig,
    RetrievalConfig,
)
from rag.embedding.base import DEFAULT_EMBEDDING_MODEL

__all__ = ["ALIASES", "ANSWER_ENGINES", "ANSWER_MODES", "CONFIG_FILE_NAME", "DEFAULT_ADAPTER",
           "DEFAULT_EMBEDDING_MODEL", "DEFAULT_GENERATOR_MODEL", "DEFAULT_READER", "DEFAULT_REFUSAL",
           "ENV_VARS", "READER_BACKENDS", "SECTIONS", "AnswerConfig", "ChunkingConfig", "EmbeddingConfig",
           "GeneratorConfig", "IndexConfig", "PromptConfig", "RagConfig", "RetrievalConfig", "all_keys",
           "apply_options", "load_config", "set_option"]

"""Offline retrieval-augmented generation: ingest folders, ask grounded questions, evaluate."""

from rag.config import RagConfig, load_config
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.types import Answer, Chunk, Hit, Page, Source, Timings

__all__ = ["Answer", "Chunk", "Hit", "Page", "Pipeline", "RagConfig", "RagError", "Source",
           "Timings", "load_config"]
__version__ = "0.1.0"

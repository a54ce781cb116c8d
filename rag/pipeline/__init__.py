"""The wiring: one configuration in, its components built lazily (components), the index verbs
(indexing) and the question verbs (pipeline) out. The only package that reads the whole
configuration tree, besides the CLI."""

from rag.pipeline.pipeline import Pipeline

__all__ = ["Pipeline"]

"""Retrieval: question -> hits, by a dense route, a lexical route, or both fused."""

from rag.retrieval.base import RETRIEVAL_MODES, Retrieval, RetrievalSettings, Retriever
from rag.retrieval.routes import MultiRouteRetriever

__all__ = ["RETRIEVAL_MODES", "MultiRouteRetriever", "Retrieval", "RetrievalSettings", "Retriever"]

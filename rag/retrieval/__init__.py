"""Retrieval: question -> hits. Routes (dense.py; lexical/, the BM25 index and its route) behind
the Route protocol (base), registered by name (registry), fused over N routes with a weight each
(fusion, retriever), restricted by filters resolved once (filters). Its settings are the
`[retrieval]` configuration section (settings)."""

from rag.retrieval.base import Query, Retrieval, Retriever, Route
from rag.retrieval.registry import RouteParts, RouteSpec, register_mode, register_route, retrieval_modes
from rag.retrieval.retriever import MultiRouteRetriever
from rag.retrieval.settings import RetrievalConfig, RetrievalSettings

__all__ = ["MultiRouteRetriever", "Query", "Retrieval", "RetrievalConfig", "RetrievalSettings", "Retriever",
           "Route", "RouteParts", "RouteSpec", "register_mode", "register_route", "retrieval_modes"]

"""`rag serve`: the HTTP app over one loaded Pipeline (FastAPI + uvicorn)."""

from rag.serve.app import create_app

__all__ = ["create_app"]

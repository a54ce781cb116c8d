"""`rag serve`: the HTTP app over one loaded Pipeline (FastAPI + uvicorn). FastAPI is imported
when the app is asked for, not with the package (the CLI reads rag.serve.limits' defaults)."""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from rag.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'rag.serve' has no attribute {name!r}")

"""Stores: where chunks, their vectors and the ingest manifest live. The Protocol and the
embedding-model check (base), Chroma on a local folder or a server (chroma), and the writers'
lock and server lease (lease)."""

from rag.store.base import Store, check_embedding_model, origin_record
from rag.store.chroma import ChromaStore
from rag.store.lease import LOCK_FILE, writer_mark

__all__ = ["LOCK_FILE", "ChromaStore", "Store", "check_embedding_model", "origin_record",
           "writer_mark"]

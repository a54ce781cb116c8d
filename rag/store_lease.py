"""The write lease of an index on a Chroma server: one record in a `COLLECTION-lease`
collection naming the writer and when its claim expires.

A local index is locked with flock on a file in its folder; a server index has no shared
folder, so writers coordinate through the server itself. Chroma has no compare-and-set, so a
claim is written, then read back after a pause: of two writers racing, only the one whose
write landed last sees itself and goes on. A writer renews its claim while it works; a
killed writer's claim expires after `seconds`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Any

from rag.errors import IngestLockedError

LEASE_ID = "writer"


class ServerLease:
    """Context manager holding the write lease of one server collection.

    Args:
        collection: the lease collection (a Chroma collection object).
        where: how to name the index in errors.
        seconds: how long a claim lasts without renewal.
        settle: seconds between writing a claim and reading it back.

    Raises:
        IngestLockedError: another writer holds an unexpired claim, or won a race for it.
    """

    def __init__(self, collection: Any, where: str, seconds: float = 60.0, settle: float = 0.3) -> None:
        self.collection = collection
        self.where = where
        self.seconds = seconds
        self.settle = settle
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _current(self) -> dict[str, Any] | None:
        got = self.collection.get(ids=[LEASE_ID], include=["metadatas"])
        return dict(got["metadatas"][0]) if got["ids"] else None

    def _claim(self) -> None:
        self.collection.upsert(ids=[LEASE_ID], embeddings=[[1.0]],
                               metadatas=[{"owner": self.owner, "expires": time.time() + self.seconds}])

    def _refuse(self, holder: dict[str, Any]) -> IngestLockedError:
        left = max(0.0, float(holder.get("expires", 0)) - time.time())
        return IngestLockedError(f"another ingest ({holder.get('owner')}) is writing to {self.where!r} "
                                 f"(its lease runs {left:.0f} s more unless renewed); wait for it to finish")

    def __enter__(self) -> ServerLease:
        holder = self._current()
        if holder and holder.get("owner") != self.owner and float(holder.get("expires", 0)) > time.time():
            raise self._refuse(holder)
        self._claim()
        time.sleep(self.settle)
        holder = self._current()
        if not holder or holder.get("owner") != self.owner:
            raise self._refuse(holder or {})
        self._renewer = threading.Thread(target=self._renew, name="rag-lease", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            holder = self._current()
            if holder and holder.get("owner") == self.owner:
                self._claim()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        holder = self._current()
        if holder and holder.get("owner") == self.owner:
            self.collection.delete(ids=[LEASE_ID])

"""Writer locks of an index: the lease of an index on a Chroma server (one record in a
`COLLECTION-lease` collection naming the writer and when its claim expires), and the flock of a
local index's folder (`folder_lock`).

A local index is locked with flock on a file in its folder; a server index has no shared
folder, so writers coordinate through the server itself. Chroma has no compare-and-set, so a
claim is written, then read back after a pause: of two writers racing, only the one whose
write landed last sees itself and goes on. A writer renews its claim while it works; a
killed writer's claim expires after `seconds`.

A writer can lose its lease: its renewal fails (the server unreachable for longer than the
claim), or another writer took the record over (this one stalled past `seconds`). The renewal
thread records why, and `check()`, called before every write, raises LeaseLostError naming the
new holder: the writer stops instead of interleaving with the other one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import IngestLockedError

LEASE_ID = "writer"


class LeaseLostError(IngestLockedError):
    """This writer's lease ran out or was taken over by another writer mid-ingest."""


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
        self.lost: str | None = None  # why the lease is no longer ours (set by the renewal thread)

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
            try:
                holder = self._current()
                if not holder or holder.get("owner") != self.owner:
                    self.lost = _taken(holder)
                    return
                self._claim()
            except Exception as exc:  # noqa: BLE001 - recorded; the writer raises it at its next write
                self.lost = f"renewing it failed ({type(exc).__name__}: {exc})"
                return

    def check(self) -> None:
        """Before a write: is the lease still this writer's?

        Raises:
            LeaseLostError: it was taken over, or its renewal failed.
        """
        if self.lost is None:
            holder = self._current()
            if not holder or holder.get("owner") != self.owner:
                self.lost = _taken(holder)
        if self.lost is not None:
            raise LeaseLostError(f"this ingest ({self.owner}) lost the write lease of {self.where!r}: {self.lost}; "
                                 "it stopped writing. What it wrote is kept and marked pending; run the ingest "
                                 "again once the other writer is done")

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        holder = self._current()
        if holder and holder.get("owner") == self.owner:
            self.collection.delete(ids=[LEASE_ID])


def _taken(holder: dict[str, Any] | None) -> str:
    return f"another writer ({holder.get('owner')}) holds it now" if holder else "its record is gone"


LOCK_FILE = ".ingest.lock"  # writers' flock; each leaves a fresh mark in it


def writer_mark(index: Path) -> Path:
    """The file of a local index folder that every write changes (the writers' lock, with the
    last writer's mark): what the unchanged-folder shortcut watches."""
    return index / LOCK_FILE


@contextlib.contextmanager
def folder_lock(lock: Path) -> Iterator[None]:
    """A local index's writer lock: flock on `lock` in the index folder (nothing to lock while
    the folder does not exist yet). Each writer leaves a fresh mark in the file, which the
    unchanged-folder shortcut watches (rag/ingest/shortcut.py).

    Raises:
        IngestLockedError: another writer holds it.
    """
    if not lock.parent.is_dir():
        yield
        return
    with open(lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestLockedError(f"another ingest is writing to {str(lock.parent)!r}; "
                                    "wait for it to finish") from None
        handle.write(f"{os.getpid()} {time.time_ns()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""One loaded model, many requests: requests queue for the generator, one at a time.

Generation runs in a worker thread; a streamed answer hands its pieces to the event loop through
a queue, and a client that goes away sets `cancelled`, which closes the chain's generator at the
next piece and frees the model for the next request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio

from rag.errors import RagError


class BusyError(RagError):
    """The generator stayed busy for longer than the queue timeout."""


class ModelGate:
    """Serialises use of the one generator.

    Args:
        queue_timeout: seconds a request may wait for the generator before BusyError.
    """

    def __init__(self, queue_timeout: float = 120.0) -> None:
        self.queue_timeout = queue_timeout
        self._lock = threading.Lock()
        self.waiting = 0

    @property
    def busy(self) -> bool:
        """Whether the generator (or an ingest) is in use now."""
        return self._lock.locked()

    def _acquire(self) -> None:
        self.waiting += 1
        try:
            if not self._lock.acquire(timeout=self.queue_timeout):
                raise BusyError(f"the model stayed busy for {self.queue_timeout:.0f} s (serve "
                                "--queue-timeout); try again later")
        finally:
            self.waiting -= 1

    async def run(self, work: Callable[[], Any]) -> Any:
        """Run `work` in a thread once the generator is free; its result."""
        def guarded() -> Any:
            self._acquire()
            try:
                return work()
            finally:
                self._lock.release()

        return await anyio.to_thread.run_sync(guarded)

    async def stream(self, start: Callable[[], Iterator[str]], finish: Callable[[Iterator[str]], Any],
                     cancelled: threading.Event) -> AsyncIterator[tuple[str, Any]]:
        """Yield ("piece", text) as `start()`'s iterator produces them, then ("done",
        finish(iterator)) or ("error", exception). Setting `cancelled` stops generation."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def put(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def produce() -> None:
            try:
                self._acquire()
            except BusyError as exc:
                put("error", exc)
                return
            try:
                if cancelled.is_set():  # the client left while waiting in the queue
                    put("cancelled", None)
                    return
                pieces = start()
                for piece in pieces:
                    if cancelled.is_set():
                        close = getattr(pieces, "close", None)
                        if close is not None:
                            close()
                        put("cancelled", None)
                        return
                    put("piece", piece)
                put("done", finish(pieces))
            except Exception as exc:  # noqa: BLE001 - handed to the event loop, answered as JSON
                put("error", exc)
            finally:
                self._lock.release()

        worker = threading.Thread(target=produce, name="rag-generate", daemon=True)
        worker.start()
        while True:
            kind, value = await queue.get()
            yield kind, value
            if kind in ("done", "error", "cancelled"):
                return

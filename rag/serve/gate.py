"""One loaded model, many requests: answers queue for the generator, which runs as many at once
as it has lanes (rag/generator/onnx_runner.py; one on PyTorch); anything else that uses the
model or writes the index (ingest, loading a chain) runs alone.

Generation runs in a worker thread; a streamed answer hands its pieces to the event loop through
a queue, and a client that goes away sets `cancelled`, which closes the chain's generator at the
next piece and frees its lane for the next request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio

from rag.errors import RagError


class BusyError(RagError):
    """The generator stayed busy for longer than the queue timeout."""


class ModelGate:
    """Lets up to `lanes()` answers use the generator at once, and other work alone.

    Args:
        queue_timeout: seconds a request may wait before BusyError.
        lanes: how many answers may run at once now (read at each admission: the generator's
            lanes once it is loaded, 1 before).
    """

    def __init__(self, queue_timeout: float = 120.0, lanes: Callable[[], int] = lambda: 1) -> None:
        self.queue_timeout = queue_timeout
        self.lanes = lanes
        self._changed = threading.Condition()
        self._queue: deque[object] = deque()  # waiting requests, admitted first come, first served
        self._answering = 0
        self._alone = False

    @property
    def waiting(self) -> int:
        """Requests waiting to be admitted."""
        return len(self._queue)

    @property
    def busy(self) -> bool:
        """Whether the generator (or an ingest) is in use now."""
        return self._alone or self._answering > 0

    def _free(self, answer: bool) -> bool:
        if self._alone:
            return False
        return self._answering < max(1, self.lanes()) if answer else self._answering == 0

    def _acquire(self, answer: bool) -> None:
        """Wait until this request is the first in the queue and there is room for it: strict
        order keeps every wait about as long as the queue ahead (a waiter woken at random could
        wait for ever), and work that runs alone is not overtaken by answers behind it."""
        deadline = time.monotonic() + self.queue_timeout
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            try:
                while not (self._queue[0] is ticket and self._free(answer)):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise BusyError(f"the model stayed busy for {self.queue_timeout:.0f} s (serve "
                                        "--queue-timeout); try again later")
                    self._changed.wait(left)
                if answer:
                    self._answering += 1
                else:
                    self._alone = True
            finally:
                self._queue.remove(ticket)
                self._changed.notify_all()  # the next in the queue may now go in

    def _release(self, answer: bool) -> None:
        with self._changed:
            if answer:
                self._answering -= 1
            else:
                self._alone = False
            self._changed.notify_all()

    async def run(self, work: Callable[[], Any], answer: bool = False) -> Any:
        """Run `work` in a thread once admitted (beside other answers when `answer`, else alone);
        its result."""
        def guarded() -> Any:
            self._acquire(answer)
            try:
                return work()
            finally:
                self._release(answer)

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
                self._acquire(answer=True)
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
                self._release(answer=True)

        worker = threading.Thread(target=produce, name="rag-generate", daemon=True)
        worker.start()
        while True:
            kind, value = await queue.get()
            yield kind, value
            if kind in ("done", "error", "cancelled"):
                return

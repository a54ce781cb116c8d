"""One loaded model, many requests: answers queue for the generator, which runs as many at once
as it has lanes (rag/generator/onnx_runner.py; one on PyTorch); anything else that uses the
model or writes the index (ingest, loading a chain) runs alone.

Model work, and the wait for it, runs in the gate's own bounded pool of threads, never in the
event loop's shared pool, so queued requests cannot starve the page's own routes (static files,
/health). At most `max_waiting` requests wait; one more is refused at once (BusyError, 503), and
so is one that waits past `queue_timeout`. A streamed answer hands its pieces to the event loop
through a queue, and a client that goes away sets `cancelled`, which closes the chain's
generator at the next piece and frees its lane for the next request.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rag.errors import RagError

MAX_WAITING = 16  # requests queued for the model at most; one more is a 503 at once
MAX_RUNNING = 8  # answers at once at most, whatever the generator's lanes


class BusyError(RagError):
    """The generator stayed busy for longer than the queue timeout, or its queue is full."""


class ModelGate:
    """Lets up to `lanes()` answers use the generator at once, and other work alone.

    Args:
        queue_timeout: seconds a request may wait before BusyError.
        lanes: how many answers may run at once now (read at each admission: the generator's
            lanes once it is loaded, 1 before; at most MAX_RUNNING).
        max_waiting: requests that may wait at once; one more is refused at once.
    """

    def __init__(self, queue_timeout: float = 120.0, lanes: Callable[[], int] = lambda: 1,
                 max_waiting: int = MAX_WAITING) -> None:
        if max_waiting < 1:
            raise ValueError(f"max_waiting must be >= 1; got {max_waiting}")
        self.queue_timeout = queue_timeout
        self.lanes = lanes
        self.max_waiting = max_waiting
        self._changed = threading.Condition()
        self._queue: deque[object] = deque()  # waiting requests, admitted first come, first served
        self._answering = 0
        self._alone = False
        self._taken = 0  # requests handed to the pool and not finished (waiting or running)
        self._pool = ThreadPoolExecutor(max_waiting + MAX_RUNNING, thread_name_prefix="rag-model")

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
        return self._answering < min(MAX_RUNNING, max(1, self.lanes())) if answer else self._answering == 0

    def _enter(self) -> None:
        """Take a place for one request, or refuse it at once when the queue is full."""
        with self._changed:
            if self._taken - self._answering - self._alone >= self.max_waiting:
                raise BusyError(f"{self.max_waiting} requests are already waiting for the model; "
                                "try again later")
            self._taken += 1

    def _leave(self) -> None:
        with self._changed:
            self._taken -= 1

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
        """Run `work` in the gate's pool once admitted (beside other answers when `answer`, else
        alone); its result.

        Raises:
            BusyError: the queue is full, or the wait passed the queue timeout.
        """
        self._enter()

        def guarded() -> Any:
            try:
                self._acquire(answer)
                try:
                    return work()
                finally:
                    self._release(answer)
            finally:
                self._leave()

        try:
            future = self._pool.submit(guarded)
        except BaseException:
            self._leave()
            raise
        # Cancelled before a thread took it (its caller gone): it never runs, so give its place back.
        future.add_done_callback(lambda done: self._leave() if done.cancelled() else None)
        return await asyncio.wrap_future(future)

    def stream(self, start: Callable[[], Iterator[str]], finish: Callable[[Iterator[str]], Any],
               cancelled: threading.Event) -> AsyncIterator[tuple[str, Any]]:
        """Queue one streamed answer now; iterate the result for ("piece", text) as `start()`'s
        iterator produces them, then ("done", finish(iterator)), ("error", exception) or
        ("cancelled", None). Setting `cancelled` stops generation; so does dropping the result
        unread. Called from the event loop.

        Raises:
            BusyError: the queue is full (at once, before anything is streamed).
        """
        self._enter()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def put(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def produce() -> None:
            try:
                self._acquire(answer=True)
            except BusyError as exc:
                put("error", exc)
                self._leave()
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
                self._leave()

        try:
            self._pool.submit(produce)
        except BaseException:
            self._leave()
            raise
        relay = _relay(queue)
        weakref.finalize(relay, cancelled.set)  # never read (the client left first): stop generating
        return relay


async def _relay(queue: asyncio.Queue[tuple[str, Any]]) -> AsyncIterator[tuple[str, Any]]:
    """The producer's messages up to the last one."""
    while True:
        kind, value = await queue.get()
        yield kind, value
        if kind in ("done", "error", "cancelled"):
            return

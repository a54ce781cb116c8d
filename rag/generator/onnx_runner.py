"""The exported graph's forward passes (a decoding `Runner`), and lanes: several answers of one
loaded generator at once, each on its own share of the cores.

One answer alone runs on a session with every thread. Prefill is most of an answer and does not
scale well past one thread on a small model, so while more than one answer is running, each
forward pass runs on a second session with `threads // lanes` threads: two such passes at once
did more work per second on 2 cores than one 2-thread session taking them in turn
(bench/lanes.py). The graph keeps its keys and values as plain inputs and outputs, so an answer
can move between the two sessions from one pass to the next.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class Lanes:
    """How many answers one generator runs at once, and how many are running now.

    Args:
        count: answers at once (1: one at a time, as a gate in front of it allows).
    """

    def __init__(self, count: int = 1) -> None:
        if count < 1:
            raise ValueError(f"lanes must be >= 1; got {count}")
        self.count = count
        self.running = 0
        self._lock = threading.Lock()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Counts one answer as running while inside."""
        with self._lock:
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1

    @property
    def shared(self) -> bool:
        """Whether forward passes should now run on the lane session."""
        return self.count > 1 and self.running > 1


class OnnxRunner:
    """An exported graph's forward passes (a decoding `Runner`); a cache is (keys, values).

    Args:
        session: the session used while one answer runs.
        settings: the model's Llama settings (layers, kv_heads, head_dim).
        lanes: the generator's Lanes (None: always `session`).
        lane_session: makes the session used while several answers run (called once, lazily).
    """

    def __init__(self, session: Any, settings: dict[str, Any], lanes: Lanes | None = None,
                 lane_session: Callable[[], Any] | None = None) -> None:
        self.session = session
        self.lanes = lanes
        self._make_lane_session = lane_session
        self._lane_session: Any = None
        self._lane_lock = threading.Lock()
        self._empty = np.zeros((settings["layers"], 1, settings["kv_heads"], 0, settings["head_dim"]), np.float32)

    def lane_session(self) -> Any:
        """The session of passes run beside another answer's (made on first use; the main
        session when it cannot be made, e.g. its graph was evicted from the cache since)."""
        with self._lane_lock:
            if self._lane_session is None:
                self._lane_session = self.session
                if self._make_lane_session is not None:
                    try:
                        self._lane_session = self._make_lane_session()
                    except Exception as exc:  # noqa: BLE001 - answers stay right, only slower
                        log.warning("answers at once share one session: its lane session failed: %s", exc)
            return self._lane_session

    def _run(self, ids: Sequence[int], cache: Any, count: int) -> tuple[np.ndarray, Any]:
        keys, values = cache if cache is not None else (self._empty, self._empty)
        session = self.lane_session() if self.lanes is not None and self.lanes.shared else self.session
        logits, keys, values = session.run(None, {
            "input_ids": np.array([list(ids)], dtype=np.int64), "past_keys": keys, "past_values": values,
            "logits_count": np.array(count, dtype=np.int64)})
        return logits[0], (keys, values)

    def prefill(self, ids: Sequence[int], cache: Any) -> tuple[np.ndarray, Any]:
        logits, cache = self._run(ids, cache, 1)
        return logits[-1], cache

    def score(self, cache: Any, tokens: Sequence[int]) -> np.ndarray:
        return self._run(tokens, cache, len(tokens))[0]  # a run returns new arrays: `cache` stays

    def snapshot(self, cache: Any) -> Any:
        return cache

    def head(self, snapshot: Any, length: int) -> Any:
        return tuple(np.ascontiguousarray(a[:, :, :, :length]) for a in snapshot)

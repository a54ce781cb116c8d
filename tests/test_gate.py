"""The serve gate: as many answers at once as the generator has lanes, anything else alone,
first come, first served, so that no request waits behind later ones."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from rag.serve.gate import BusyError, ModelGate


class Occupancy:
    """Records how many answers and how much other work were inside at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers = self.others = self.most_answers = 0
        self.overlaps = 0  # times other work and an answer were inside together
        self.order: list[str] = []

    def work(self, name: str, answer: bool, seconds: float = 0.05) -> Callable[[], str]:
        def run() -> str:
            with self.lock:
                self.answers += answer
                self.others += not answer
                self.most_answers = max(self.most_answers, self.answers)
                self.overlaps += self.answers > 0 and self.others > 0
                self.order.append(name)
            time.sleep(seconds)
            with self.lock:
                self.answers -= answer
                self.others -= not answer
            return name
        return run


async def gather(gate: ModelGate, jobs: list[tuple[Callable[[], str], bool, float]]) -> list[str]:
    """Start each job after its delay; their results."""
    async def started(work: Callable[[], str], answer: bool, delay: float) -> str:
        await asyncio.sleep(delay)
        return await gate.run(work, answer=answer)

    return await asyncio.gather(*(started(*job) for job in jobs))


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_answers_run_as_many_at_once_as_the_lanes_allow(lanes: int) -> None:
    seen, gate = Occupancy(), ModelGate(5.0, lambda: lanes)
    asyncio.run(gather(gate, [(seen.work(f"a{i}", True), True, 0.0) for i in range(6)]))
    assert seen.most_answers == lanes
    assert not gate.busy and gate.waiting == 0


def test_other_work_runs_alone_and_answers_arriving_behind_it_wait() -> None:
    seen, gate = Occupancy(), ModelGate(5.0, lambda: 2)
    jobs = [(seen.work("a0", True, 0.2), True, 0.0), (seen.work("ingest", False), False, 0.05),
            *((seen.work(f"a{i}", True), True, 0.1) for i in range(1, 4))]
    asyncio.run(gather(gate, jobs))
    assert seen.overlaps == 0
    # a free lane did not let a1..a3 pass the ingest that was waiting before them
    assert seen.order[:2] == ["a0", "ingest"]


@pytest.mark.parametrize("lanes", [1, 2])
def test_requests_go_in_the_order_they_arrived(lanes: int) -> None:
    seen, gate = Occupancy(), ModelGate(10.0, lambda: lanes)
    names = [f"a{i}" for i in range(8)]
    # one arrives every 50 ms and each takes 150 ms: a queue builds up behind the first ones
    asyncio.run(gather(gate, [(seen.work(name, True, 0.15), True, 0.05 * i) for i, name in enumerate(names)]))
    assert seen.order == names


def test_an_answer_waiting_past_the_queue_timeout_is_busy_and_leaves_the_gate_clean() -> None:
    seen, gate = Occupancy(), ModelGate(0.05, lambda: 1)
    with pytest.raises(BusyError, match="queue-timeout"):
        asyncio.run(gather(gate, [(seen.work("a0", True, 0.3), True, 0.0), (seen.work("a1", True), True, 0.01)]))
    assert gate.waiting == 0
    time.sleep(0.4)  # a0 is done
    assert asyncio.run(gather(gate, [(seen.work("a2", True), True, 0.0)])) == ["a2"]
    assert not gate.busy

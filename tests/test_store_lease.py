"""The server write lease on an in-memory stand-in for a Chroma collection."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rag.errors import IngestLockedError
from rag.store.lease import ServerLease


class FakeCollection:
    """get / upsert / delete by id, as Chroma's collection does them."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def get(self, ids: list[str], include: list[str]) -> dict[str, Any]:
        found = [i for i in ids if i in self.records]
        return {"ids": found, "metadatas": [self.records[i] for i in found]}

    def upsert(self, ids: list[str], embeddings: Any, metadatas: list[dict[str, Any]]) -> None:
        self.records.update(zip(ids, metadatas))

    def delete(self, ids: list[str]) -> None:
        for i in ids:
            self.records.pop(i, None)


def test_a_held_lease_refuses_a_second_writer_and_is_released() -> None:
    collection = FakeCollection()
    second = ServerLease(collection, "srv", settle=0.0)
    with ServerLease(collection, "srv", settle=0.0), pytest.raises(IngestLockedError,
                                                                   match="another ingest .* is writing to 'srv'"):
        second.__enter__()
    assert collection.records == {}
    with ServerLease(collection, "srv", settle=0.0):
        pass


def test_a_killed_writers_lease_expires_and_a_live_one_is_renewed() -> None:
    collection = FakeCollection()
    dead = ServerLease(collection, "srv", seconds=0.3, settle=0.0)
    dead.__enter__()
    dead._stop.set()  # killed: no more renewals, no release
    time.sleep(0.4)
    with ServerLease(collection, "srv", seconds=0.3, settle=0.0) as alive:
        time.sleep(0.5)  # past one lease length: renewals keep it
        assert collection.records["writer"]["owner"] == alive.owner
        assert collection.records["writer"]["expires"] > time.time()


def test_a_writer_that_loses_the_race_backs_off() -> None:
    collection = FakeCollection()
    loser = ServerLease(collection, "srv", settle=0.0)
    winner = ServerLease(collection, "srv", settle=0.0)
    original = loser._claim

    def claim_then_lose() -> None:  # the other writer's claim lands right after ours
        original()
        winner._claim()

    loser._claim = claim_then_lose  # type: ignore[method-assign]
    with pytest.raises(IngestLockedError):
        loser.__enter__()
    assert collection.records["writer"]["owner"] == winner.owner

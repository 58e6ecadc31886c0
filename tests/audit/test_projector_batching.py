"""How the projector turns runs into writes: one write at a time, in order; what arrives during
a write goes into the next one; a run is acknowledged only after the write that holds it; and
submit stops taking runs while a whole batch waits.

The store is replaced by a gate in Projector._write (the transaction itself is tested against
PostgreSQL in test_store.py and, with the whole worker, in test_projector.py): the point here is
the scheduling."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from services.audit.projector import Projector
from services.audit.settings import AuditSettings
from services.audit.store.repository import DeadLetter, Prepared
from tests.audit.helpers import make_event


@dataclass(frozen=True)
class Record:  # the fields of an aiokafka ConsumerRecord the projector reads
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class RunEvent:  # a faust event of a run: its value is the run's records
    name: str
    value: tuple[Record, ...]
    message: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(processed=False))


class GatedProjector(Projector):
    """Writes nothing: records each write's event ids and waits for the test to let it end."""

    def __init__(self, batch_size: int) -> None:
        super().__init__(AuditSettings(batch_size=batch_size), dead_letter_topic=None)
        self.writes: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.acked: list[str] = []
        self.letters: list[DeadLetter] = []

    async def _write(self, events: list[Prepared], dead: list[DeadLetter]) -> None:
        self.writes.append([e.record.resource_id for e in events])
        self.letters += dead
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()

    async def ack(self, run: Any) -> bool:
        assert run.message.processed  # or acknowledging it would not move the commit
        self.acked.append(run.name)
        return True


def run(name: str, first: int, count: int) -> RunEvent:
    records = tuple(
        Record("t", 0, i, None, make_event(i).SerializeToString())
        for i in range(first, first + count)
    )
    return RunEvent(name, records)


async def until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def test_runs_arriving_during_a_write_go_together_into_the_next_and_are_acked_after_it() -> (
    None
):
    p = GatedProjector(batch_size=100)
    await p.submit(run("a", 0, 3), p.ack)
    await until(lambda: len(p.writes) == 1)
    await p.submit(run("b", 3, 2), p.ack)
    await p.submit(run("c", 5, 4), p.ack)
    assert p.writes == [["p0", "p1", "p2"]]  # b and c wait for a's write
    assert p.acked == []

    p.gates[0].set()
    await until(lambda: len(p.writes) == 2)
    assert p.acked == ["a"]  # after its write, before b's and c's
    assert p.writes[1] == [f"p{i}" for i in range(3, 9)]  # b and c in one write, in order

    p.gates[1].set()
    await p.drain()
    assert p.acked == ["a", "b", "c"]


async def test_submit_waits_while_a_whole_batch_is_waiting() -> None:
    p = GatedProjector(batch_size=4)
    await p.submit(run("a", 0, 1), p.ack)  # written at once
    await until(lambda: len(p.writes) == 1)
    await p.submit(run("b", 1, 4), p.ack)  # a whole batch now waits
    blocked = asyncio.create_task(p.submit(run("c", 5, 1), p.ack))
    await until(lambda: len(p.waiting) == 4)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not blocked.done()  # c waits until the writer takes b

    p.gates[0].set()
    await asyncio.wait_for(blocked, 5)
    await until(lambda: len(p.writes) == 2)
    assert p.writes[1] == ["p1", "p2", "p3", "p4"]
    p.gates[1].set()
    await until(lambda: len(p.writes) == 3)
    assert p.writes[2] == ["p5"]
    p.gates[2].set()
    await p.drain()
    assert p.acked == ["a", "b", "c"]


async def test_an_undecodable_record_becomes_a_dead_letter_and_its_run_is_still_acked() -> None:
    p = GatedProjector(batch_size=100)
    good = run("a", 0, 2)
    poisoned = RunEvent("a", (good.value[0], Record("t", 0, 1, b"k", b"\xff garbage")))
    await p.submit(poisoned, p.ack)
    await until(lambda: len(p.writes) == 1)
    p.gates[0].set()
    await p.drain()
    assert p.writes == [["p0"]]
    assert [(d.offset, d.key, d.payload) for d in p.letters] == [(1, b"k", b"\xff garbage")]
    assert p.acked == ["a"]

"""Runs (run_delivery.py) against faust's own offset bookkeeping: acknowledging a run lets the
commit move past every offset it stands for, and never past a run not acknowledged.

The consumer is a real faust consumer of a RunDeliveringApp, not started: the commit arithmetic
(`_new_offset`, its gaps) is faust's, and what is committed is recorded as faust's commit does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from services.audit.run_delivery import (
    FETCH_MAX_WAIT_MS,
    Run,
    RunDeliveringApp,
    RunDeliveringConsumer,
)

TOPIC = "audit.events.v1"
TP0 = TP(TOPIC, 0)


@dataclass(frozen=True)
class Record:  # the fields of an aiokafka ConsumerRecord a run reads
    offset: int
    timestamp: int = 1_700_000_000_000
    timestamp_type: int = 0
    serialized_value_size: int = 100


def consumer() -> RunDeliveringConsumer:
    app = RunDeliveringApp("runs-test", broker="kafka://127.0.0.1:1", store="memory://")
    app.topics.acking_topics.add(TOPIC)  # as when an agent subscribes to the topic
    return cast(RunDeliveringConsumer, app.consumer)


def commit(c: RunDeliveringConsumer) -> int | None:
    """What faust's commit would commit now for TP0 (and records it, as faust does)."""
    offset = c._new_offset(TP0)
    if offset is not None:
        c._committed_offset[TP0] = offset
    return c._committed_offset[TP0]


def deliver(offsets: list[int], first: int) -> Run:
    run = Run(TP0, tuple(Record(o) for o in offsets), first, generation_id=1)
    run.incref()  # as the conductor does for the one stream
    return run


def processed(run: Run, c: RunDeliveringConsumer) -> None:
    """As the projector does once the run is stored."""
    run.processed = True
    run.ack(c)


@st.composite
def fetched_runs(draw: st.DrawFn) -> list[list[int]]:
    """Increasing offsets, with holes (compacted records, transaction markers), cut into runs."""
    steps = draw(st.lists(st.integers(1, 4), min_size=1, max_size=60))
    offsets, offset = [], draw(st.integers(0, 1000))
    for step in steps:
        offsets.append(offset)
        offset += step
    cuts = sorted(draw(st.sets(st.integers(1, max(len(offsets) - 1, 1)), max_size=10)))
    cuts = [cut for cut in cuts if cut < len(offsets)]
    return [offsets[a:b] for a, b in zip([0, *cuts], [*cuts, len(offsets)], strict=True)]


def first_offsets(runs: list[list[int]]) -> Iterator[int]:
    """A run stands for the offsets after the previous run's last (as _deliver sets `first`)."""
    previous = None
    for run in runs:
        yield run[0] if previous is None else previous + 1
        previous = run[-1]


@given(fetched_runs())
def test_acknowledging_runs_in_order_commits_past_each_run_and_no_further(
    runs: list[list[int]],
) -> None:
    c = consumer()
    delivered = [deliver(run, first) for run, first in zip(runs, first_offsets(runs), strict=True)]
    assert commit(c) is None  # delivered is not acknowledged
    for run, offsets in zip(delivered, runs, strict=True):
        processed(run, c)
        assert commit(c) == offsets[-1] + 1


def test_a_run_not_acknowledged_holds_the_commit_whatever_comes_after_it() -> None:
    c = consumer()
    first, second, third = deliver([0, 1, 2], 0), deliver([3, 4, 5], 3), deliver([6, 7], 6)
    processed(first, c)
    assert commit(c) == 3
    processed(third, c)
    assert commit(c) == 3
    processed(second, c)
    assert commit(c) == 8


def test_a_run_dropped_at_a_rebalance_leaves_no_gap_behind() -> None:
    # Delivered, never acknowledged (its write abandoned), then fetched again cut shorter: the
    # commit must stop where the shorter run ends, not where the dropped one did.
    c = consumer()
    deliver(list(range(10)), 0)
    again = deliver(list(range(5)), 0)
    processed(again, c)
    assert commit(c) == 5
    assert commit(c) == 5  # and stays there, until more is acknowledged


def test_a_run_faust_acknowledges_by_itself_moves_nothing() -> None:
    # faust acks an event it skips (one that crossed a rebalance, or came while the flow was
    # stopped) without handing it to the agent: nothing of it is stored.
    c = consumer()
    stored, skipped, later = deliver([0, 1], 0), deliver([2, 3, 4], 2), deliver([5, 6], 5)
    processed(stored, c)
    assert commit(c) == 2
    skipped.ack(c)
    assert skipped.acked  # so that faust's wait for unacknowledged events ends
    assert commit(c) == 2
    processed(later, c)
    assert commit(c) == 2  # the skipped run's records are a hole until fetched again


async def test_the_broker_holds_an_empty_fetch_briefly_not_faust_s_one_and_a_half_seconds() -> None:
    # A partition with a backlog joins the next fetch only after the fetch in flight (the idle
    # partitions' long poll) returns: that wait must stay short.
    c = consumer()
    kafka_consumer = c._new_consumer_thread()._create_worker_consumer(c.transport)
    try:
        assert kafka_consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500
    finally:
        await kafka_consumer.stop()

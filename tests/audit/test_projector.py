"""The faust projector against a real Kafka and PostgreSQL, workers as real processes."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audit.helpers import (
    Workers,
    assert_store_holds_exactly,
    dead_letters,
    keyed,
    make_event,
    produce,
    wait_all_committed,
    wait_rows,
)
from tests.harness.services import own_postgres

pytestmark = pytest.mark.integration


@pytest.fixture
def workers(
    kafka_bootstrap: str, topic: str, unique_name: str, database_url: str, tmp_path: Path
) -> Iterator[Workers]:
    group = Workers(kafka_bootstrap, topic, f"g-{unique_name}", database_url, tmp_path, [])
    yield group
    group.stop_all()


async def test_ten_thousand_events_give_ten_thousand_rows(
    workers: Workers, kafka_bootstrap: str, topic: str, database_url: str
) -> None:
    events = [make_event(i) for i in range(10_000)]
    await produce(kafka_bootstrap, topic, keyed(events))
    workers.start()
    await wait_rows(database_url, 10_000, workers)
    await wait_all_committed(workers)
    await assert_store_holds_exactly(database_url, events)


async def test_a_killed_worker_restarts_without_loss_or_duplicates(
    workers: Workers, kafka_bootstrap: str, topic: str, database_url: str
) -> None:
    events = [make_event(i) for i in range(6000)]
    sending = asyncio.create_task(produce(kafka_bootstrap, topic, keyed(events), per_second=2000))
    worker = workers.start()
    at_kill = await wait_rows(database_url, 1500, workers)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert at_kill < len(events), "the worker finished before it could be killed"
    workers.start()
    await sending
    await wait_rows(database_url, len(events), workers)
    await wait_all_committed(workers)  # no redelivered batch can land after this
    await assert_store_holds_exactly(database_url, events)


async def test_a_poison_message_goes_to_the_dead_letters_and_the_stream_goes_on(
    workers: Workers, kafka_bootstrap: str, topic: str, database_url: str
) -> None:
    before = [make_event(i) for i in range(100)]
    after = [make_event(i) for i in range(100, 200)]
    poison = [(b"acct00", b"\x08\x96\x01 this is not an AuditEvent \xff"), (b"acct01", b"")]
    missing_time = make_event(999)
    missing_time.ClearField("occurred_at")
    await produce(
        kafka_bootstrap,
        topic,
        [*keyed(before), *poison, *keyed([missing_time]), *keyed(after)],
    )
    workers.start()
    await wait_rows(database_url, 200, workers)
    await wait_rows(database_url, 3, workers, table="audit_dead_letters")
    await assert_store_holds_exactly(database_url, before + after)
    letters = await dead_letters(database_url)
    reasons = sorted(r["reason"] for r in letters)
    assert len(reasons) == 3
    assert any("missing occurred_at" in r for r in reasons)
    assert any(r.startswith(("undecodable", "missing event_id")) for r in reasons)
    assert {bytes(r["payload"]) for r in letters} >= {poison[0][1]}


async def test_two_workers_share_the_partitions_through_a_rebalance(
    workers: Workers, kafka_bootstrap: str, topic: str, database_url: str
) -> None:
    events = [make_event(i) for i in range(8000)]
    sending = asyncio.create_task(produce(kafka_bootstrap, topic, keyed(events), per_second=2000))
    workers.start()
    await wait_rows(database_url, 1000, workers)
    workers.start()  # joins mid-stream: the group rebalances
    await wait_rows(database_url, 4000, workers)
    first = workers.started[0]
    first.send_signal(signal.SIGTERM)  # and leaves: another rebalance
    first.wait(30)
    await sending
    await wait_rows(database_url, len(events), workers)
    await wait_all_committed(workers)
    await assert_store_holds_exactly(database_url, events)


async def test_postgres_down_for_ten_seconds_the_stream_waits_then_catches_up(
    kafka_bootstrap: str, topic: str, unique_name: str, tmp_path: Path
) -> None:
    with own_postgres(tmp_path) as cluster:
        workers = Workers(kafka_bootstrap, topic, f"g-{unique_name}", cluster.url, tmp_path, [])
        try:
            events = [make_event(i) for i in range(4000)]
            sending = asyncio.create_task(
                produce(kafka_bootstrap, topic, keyed(events), per_second=500)
            )
            workers.start()
            await wait_rows(cluster.url, 500, workers)
            cluster.stop()
            await asyncio.sleep(10)
            assert workers.started[0].poll() is None, "the worker died while PostgreSQL was down"
            cluster.start()
            await sending
            await wait_rows(cluster.url, len(events), workers)
            await wait_all_committed(workers)
            await assert_store_holds_exactly(cluster.url, events)
        finally:
            workers.stop_all()

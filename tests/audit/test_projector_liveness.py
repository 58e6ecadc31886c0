"""The projector never stalls silently: it declares its topics, sees partitions after a broker
restart, sends data the store refuses for good to the dead letters, and reports health."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.audit.helpers import (
    Workers,
    assert_store_holds_exactly,
    dead_letters,
    keyed,
    make_event,
    produce,
    wait_rows,
)
from tests.harness.health import health
from tests.harness.services import free_port, own_broker, own_postgres, read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def workers(
    kafka_bootstrap: str, unique_name: str, database_url: str, tmp_path: Path
) -> Iterator[Workers]:
    """Workers on a topic nobody created: the projector must declare it."""
    group = Workers(
        kafka_bootstrap, f"t-{unique_name}", f"g-{unique_name}", database_url, tmp_path, []
    )
    yield group
    group.stop_all()


async def partitions_of(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:  # list first: a metadata request for one topic would auto-create it
        if topic not in await admin.list_topics():
            return 0
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return len(described[0]["partitions"])


async def wait_topic(bootstrap: str, topic: str, workers: Workers) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not (count := await partitions_of(bootstrap, topic)):
        assert workers.started[0].poll() is None, workers.log(0)
        assert loop.time() < deadline, "the projector did not declare its topic"
        await asyncio.sleep(0.2)
    return count


async def wait_health(
    port: int, status: int, until: Callable[[dict[str, object]], bool] = lambda _: True
) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while (got := await asyncio.to_thread(health, port))[0] != status or not until(got[1]):
        assert loop.time() < deadline, f"health stayed {got}, expected {status}"
        await asyncio.sleep(0.3)
    return got[1]


async def test_the_projector_declares_its_topics_before_anything_is_produced(
    workers: Workers, kafka_bootstrap: str, database_url: str
) -> None:
    workers.start(AUDIT_TOPIC_PARTITIONS="6")
    assert await wait_topic(kafka_bootstrap, workers.topic, workers) == 6
    assert await partitions_of(kafka_bootstrap, f"{workers.topic}.dlq") == 1
    events = [make_event(i) for i in range(300)]
    await produce(kafka_bootstrap, workers.topic, keyed(events))
    await wait_rows(database_url, len(events), workers, timeout_s=30)
    await assert_store_holds_exactly(database_url, events)


async def test_data_the_store_refuses_goes_to_the_dead_letters_and_the_stream_goes_on(
    workers: Workers, kafka_bootstrap: str, database_url: str
) -> None:
    good = [make_event(i) for i in range(120)]
    nul_text = make_event(1000)
    nul_text.principal.identifier = "ali\x00ce"
    nul_json = make_event(1001)
    nul_json.new_state_json = json.dumps({"note": "a\u0000b"})
    too_big = make_event(1002)  # past the btree row limit of the principal index
    too_big.principal.identifier = os.urandom(6000).hex()
    poison = [nul_text, nul_json, too_big]
    workers.start()
    await wait_topic(kafka_bootstrap, workers.topic, workers)
    await produce(
        kafka_bootstrap,
        workers.topic,
        keyed([*good[:40], nul_text, *good[40:80], nul_json, too_big, *good[80:]]),
    )
    await wait_rows(database_url, 3, workers, table="audit_dead_letters")
    await wait_rows(database_url, len(good), workers)
    await assert_store_holds_exactly(database_url, good)
    letters = await dead_letters(database_url)
    assert {bytes(r["payload"]) for r in letters} == {e.SerializeToString() for e in poison}
    assert all(r["reason"].startswith("rejected by the audit store: ") for r in letters)
    assert any("54000" in r["reason"] for r in letters)
    published = await read_topic(kafka_bootstrap, f"{workers.topic}.dlq", 3, timeout_s=30)
    assert {r.value for r in published} == {e.SerializeToString() for e in poison}
    assert all(dict(r.headers)["reason"].startswith(b"rejected") for r in published)


async def test_a_value_past_its_column_goes_to_the_dead_letters_and_the_stream_goes_on(
    workers: Workers, kafka_bootstrap: str, database_url: str
) -> None:
    """A uint32 schema_version past the integer column: refused for good, not retried forever."""
    good = [make_event(i) for i in range(60)]
    too_large = make_event(2000)
    too_large.schema_version = 2**31
    workers.start()
    await wait_topic(kafka_bootstrap, workers.topic, workers)
    await produce(kafka_bootstrap, workers.topic, keyed([*good[:30], too_large, *good[30:]]))
    await wait_rows(database_url, 1, workers, table="audit_dead_letters", timeout_s=60)
    await wait_rows(database_url, len(good), workers, timeout_s=60)
    await assert_store_holds_exactly(database_url, good)
    letters = await dead_letters(database_url)
    assert [bytes(r["payload"]) for r in letters] == [too_large.SerializeToString()]
    assert letters[0]["reason"].startswith("rejected by the audit store: ")


async def test_a_worker_stopped_while_postgres_is_down_exits_and_loses_nothing(
    kafka_bootstrap: str, unique_name: str, database_url: str, tmp_path: Path
) -> None:
    """SIGTERM while a batch's write retries against a dead database: the write gets
    stop_write_timeout_s, then is abandoned unacknowledged and the worker exits (faust's own
    stop waited for every taken event to be acknowledged, i.e. for PostgreSQL, for ever)."""
    nowhere = f"postgresql://audit:audit@127.0.0.1:{free_port()}/audit"
    workers = Workers(
        kafka_bootstrap, f"t-{unique_name}", f"g-{unique_name}", nowhere, tmp_path, []
    )
    try:
        worker = workers.start(AUDIT_STOP_WRITE_TIMEOUT_S="2")
        await wait_topic(kafka_bootstrap, workers.topic, workers)
        events = [make_event(i) for i in range(50)]
        await produce(kafka_bootstrap, workers.topic, keyed(events))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while "database not ready" not in workers.log(0):  # the batch's write is retrying
            assert worker.poll() is None, workers.log(0)
            assert loop.time() < deadline, workers.log(0)
            await asyncio.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 60)
        # Nothing of the abandoned batch was committed: the next worker stores it all.
        workers.database_url = database_url
        workers.start()
        await wait_rows(database_url, len(events), workers)
        await assert_store_holds_exactly(database_url, events)
    finally:
        workers.stop_all()


async def test_a_worker_restarted_while_the_broker_is_down_projects_when_it_is_back(
    kafka_bootstrap: str, unique_name: str, database_url: str, tmp_path: Path
) -> None:
    """The issue's stall: a worker that joins while the broker's metadata is incomplete must
    not wait for a metadata refresh to see its partitions."""
    with own_broker(tmp_path) as broker:
        workers = Workers(
            broker.bootstrap, f"t-{unique_name}", f"g-{unique_name}", database_url, tmp_path, []
        )
        try:
            workers.start()
            await wait_topic(broker.bootstrap, workers.topic, workers)
            first = [make_event(i) for i in range(200)]
            await produce(broker.bootstrap, workers.topic, keyed(first))
            await wait_rows(database_url, len(first), workers, timeout_s=60)
            workers.started[0].send_signal(signal.SIGKILL)
            workers.started[0].wait(10)
            broker.stop()
            workers.start()  # joins as soon as the broker answers again
            await asyncio.sleep(2)
            broker.start()
            second = [make_event(i) for i in range(200, 400)]
            await produce(broker.bootstrap, workers.topic, keyed(second))
            # Well within aiokafka's default 5-minute metadata refresh.
            await wait_rows(database_url, 400, workers, timeout_s=60)
            await assert_store_holds_exactly(database_url, first + second)
        finally:
            workers.stop_all()


async def test_health_reports_a_stall_and_its_end(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    port = free_port()
    with own_postgres(tmp_path) as cluster:
        workers = Workers(
            kafka_bootstrap, f"t-{unique_name}", f"g-{unique_name}", cluster.url, tmp_path, []
        )
        try:
            workers.start(
                AUDIT_HEALTH_PORT=str(port),
                AUDIT_HEALTH_INTERVAL_S="0.3",
                AUDIT_STALL_AFTER_S="3",
            )
            await wait_topic(kafka_bootstrap, workers.topic, workers)
            first = [make_event(i) for i in range(100)]
            await produce(kafka_bootstrap, workers.topic, keyed(first))
            await wait_rows(cluster.url, len(first), workers)
            await wait_health(port, 200, lambda r: r["assigned_partitions"] == list(range(8)))
            cluster.stop()
            second = [make_event(i) for i in range(100, 200)]
            await produce(kafka_bootstrap, workers.topic, keyed(second))
            report = await wait_health(port, 503)
            assert report["status"] == "stalled"
            assert isinstance(report["lag"], int)
            assert report["lag"] > 0
            cluster.start()
            await wait_rows(cluster.url, 200, workers)
            await wait_health(port, 200, lambda r: r["lag"] == 0)
            await assert_store_holds_exactly(cluster.url, first + second)
        finally:
            workers.stop_all()

"""The audit store against a real PostgreSQL: deduplication, chains, partitions, retention,
tamper evidence (also through the verify-chain command)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.domain.chain import first_broken_link, tail_problem
from services.audit.domain.failures import rejected_for_good
from services.audit.domain.records import AuditRecord
from services.audit.event_decoding import record_from_event
from services.audit.store import repository
from tests.audit.helpers import KEYS, make_event, on_new_loop
from tests.harness.endpoints import ROOT

pytestmark = pytest.mark.integration

EVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
NOW = datetime(2026, 11, 15, tzinfo=UTC)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await repository.migrate_audit(connection)
    await repository.ensure_partitions(connection, NOW, behind=1, ahead=3)
    yield connection
    await connection.close()


def records(n: int, account: str = "acct", start: int = 0) -> list[AuditRecord]:
    return [record_from_event(make_event(i, account)) for i in range(start, start + n)]


async def test_duplicates_are_stored_once_and_chains_continue_across_batches(
    conn: asyncpg.Connection,
) -> None:
    first, second = records(50), records(50, start=50)
    assert await repository.write_batch(conn, first, [], KEYS) == 50
    assert await repository.write_batch(conn, first[10:] + second, [], KEYS) == 50
    rows = await repository.chain_rows(conn, "acct", *EVER)
    assert [r.seq for r in rows] == list(range(1, 101))
    assert first_broken_link(rows, KEYS) is None


POOL = [
    record_from_event(make_event(i, account))
    for account in ("acct", "acct_b", "acctXb")
    for i in range(12)
]


async def test_any_sequence_of_batches_stores_each_event_once_in_unbroken_chains(
    database_url: str,
) -> None:
    """Batches that repeat, overlap and reorder events (what a redelivery brings) take the
    optimistic path or its retry; either way every event is stored once and every chain is
    whole, with its head on its newest row."""
    setup = await asyncpg.connect(database_url)
    await repository.migrate_audit(setup)
    await setup.close()

    @settings(max_examples=40, deadline=None, database=None)
    @given(
        st.lists(
            st.lists(st.integers(0, len(POOL) - 1), max_size=15).map(
                lambda picks: [POOL[i] for i in picks]
            ),
            min_size=1,
            max_size=5,
        )
    )
    def one(batches: list[list[AuditRecord]]) -> None:
        async def write_and_read(conn: asyncpg.Connection) -> tuple[int, list[Any]]:
            await conn.execute("TRUNCATE audit_events, audit_chain_heads")
            stored = 0
            for batch in batches:
                stored += await repository.write_batch(conn, batch, [], KEYS)
            problems = []
            for account in {r.account for batch in batches for r in batch}:
                rows = await repository.chain_rows(conn, account, *EVER)
                assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
                problems += [
                    first_broken_link(rows, KEYS),
                    tail_problem(*await repository.chain_tail(conn, account), KEYS),
                ]
            return stored, problems

        stored, problems = on_new_loop(database_url, write_and_read)
        assert stored == len({r.event_id for batch in batches for r in batch})
        assert problems == [None] * len(problems)

    await asyncio.to_thread(one)


async def test_a_value_past_its_column_is_refused_for_good(conn: asyncpg.Connection) -> None:
    """schema_version is a uint32 on the wire and an integer column: past 2**31 the store can
    never hold it. The refusal must carry a data SQLSTATE, or the projector retries it forever
    (an OverflowError from COPY's client-side encoding did)."""
    event = make_event(0, "acct_range")
    event.schema_version = 2**31
    with pytest.raises(asyncpg.PostgresError) as refused:
        await repository.write_batch(conn, [record_from_event(event)], [], KEYS)
    assert rejected_for_good(refused.value.sqlstate)
    assert (
        await conn.fetchval("SELECT count(*) FROM audit_events WHERE account = 'acct_range'") == 0
    )


async def test_concurrent_writers_of_the_same_events_keep_one_chain(database_url: str) -> None:
    setup = await asyncpg.connect(database_url)
    await repository.migrate_audit(setup)
    await setup.close()
    batch = records(300)
    conns = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        stored = await asyncio.gather(*(repository.write_batch(c, batch, [], KEYS) for c in conns))
        assert sorted(stored) == [0, 0, 300]
        rows = await repository.chain_rows(conns[0], "acct", *EVER)
        assert len(rows) == 300
        assert first_broken_link(rows, KEYS) is None
    finally:
        for c in conns:
            await c.close()


async def test_a_row_edited_in_sql_breaks_the_chain_at_that_row(
    conn: asyncpg.Connection, database_url: str
) -> None:
    batch = records(20)
    await repository.write_batch(conn, batch, [], KEYS)
    target = batch[12]
    await conn.execute(
        "UPDATE audit_events SET principal_id = 'mallory' WHERE event_id = $1", target.event_id
    )
    broken = first_broken_link(await repository.chain_rows(conn, "acct", *EVER), KEYS)
    assert broken is not None
    assert broken.seq == 13
    assert broken.event_id == str(target.event_id)

    command = await asyncio.to_thread(verify_chain_command, database_url, "acct")
    assert command.returncode == 1
    assert f"chain position 13 (event {target.event_id})" in command.stdout
    fine = await asyncio.to_thread(verify_chain_command, database_url, "other-account")
    assert fine.returncode == 0, fine.stdout + fine.stderr


def verify_chain_command(database_url: str, account: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.audit", "verify-chain", account],
        cwd=ROOT, env={**os.environ, "AUDIT_DATABASE_URL": database_url},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_far_past_and_future_land_in_the_default_partition_then_move(
    conn: asyncpg.Connection,
) -> None:
    far = [
        record_from_event(make_event(1, "acct")),
        record_from_event(make_event(2, "acct")),
    ]
    moments = [datetime(1999, 5, 5, tzinfo=UTC), NOW + timedelta(days=200)]
    far = [_at(r, m) for r, m in zip(far, moments, strict=True)]
    assert await repository.write_batch(conn, far, [], KEYS) == 2
    assert await conn.fetchval("SELECT count(*) FROM audit_events_default") == 2
    # Later, the future month comes within reach: its partition is created and its row moves.
    created = await repository.ensure_partitions(conn, NOW + timedelta(days=150), behind=0, ahead=3)
    assert "audit_events_2027_06" in created
    assert await conn.fetchval("SELECT count(*) FROM audit_events_default") == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_events_2027_06") == 1
    assert first_broken_link(await repository.chain_rows(conn, "acct", *EVER), KEYS) is None


def _at(r: AuditRecord, moment: datetime) -> AuditRecord:
    return r._replace(occurred_at=moment)


async def test_retention_drops_whole_old_partitions(conn: asyncpg.Connection) -> None:
    old = _at(record_from_event(make_event(1, "acct")), datetime(2026, 10, 3, tzinfo=UTC))
    recent = _at(record_from_event(make_event(2, "acct")), datetime(2026, 11, 3, tzinfo=UTC))
    await repository.write_batch(conn, [old, recent], [], KEYS)
    dropped = await repository.drop_expired(conn, NOW, retention_days=14)  # cutoff: Nov 1st
    assert dropped == ["audit_events_2026_10"]
    left = await conn.fetch("SELECT event_id FROM audit_events")
    assert [r["event_id"] for r in left] == [recent.event_id]

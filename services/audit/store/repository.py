"""PostgreSQL side of the audit store (asyncpg): batch projection with the hash chain, dead
letters, partitions and retention, chain reads."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
from asyncpg.pool import PoolConnectionProxy

import libs.outbox
from libs.migrations import migrate
from services.audit.domain import partitions
from services.audit.domain.chain import (
    GENESIS,
    ChainedRow,
    ChainHead,
    ChainKeys,
    Newest,
    canonical_bytes,
    link,
    sign_head,
)
from services.audit.domain.records import AuditRecord

log = logging.getLogger(__name__)

Conn = asyncpg.Connection | PoolConnectionProxy
# The shared outbox too: denials of the query API leave through it (the same namespace as authz's,
# so a database both services use gets it once).
MIGRATIONS = [
    ("outbox", Path(libs.outbox.__file__).parent / "migrations"),
    ("audit", Path(__file__).parent / "migrations"),
]

RECORD_COLUMNS = list(AuditRecord._fields)  # the columns are named as the fields
ALL_COLUMNS = [*RECORD_COLUMNS, "chain_seq", "prev_hash", "hash", "chain_key_id"]


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    payload: bytes
    reason: str


async def migrate_audit(conn: Conn) -> list[str]:
    return await migrate(conn, MIGRATIONS)


class Prepared(NamedTuple):
    """What an event's row needs that does not depend on the chain: made while the batch
    before it is written, not in the write's own critical path."""

    record: AuditRecord
    canonical: bytes  # the chain's input (chain.canonical_bytes)
    columns: tuple[Any, ...]  # record_columns


def record_columns(r: AuditRecord) -> tuple[Any, ...]:
    """RECORD_COLUMNS' values (AuditRecord's own order), JSON as text for the jsonb columns."""
    labels, old, new = r.resource_labels, r.old_state, r.new_state
    return (
        *r[:12],
        "{}" if not labels else json.dumps(labels),
        *r[13:16],
        None if old is None else json.dumps(old),
        None if new is None else json.dumps(new),
        *r[18:],
    )  # fmt: skip


def prepare(r: AuditRecord) -> Prepared:
    return Prepared(r, canonical_bytes(r), record_columns(r))


# Creates the missing heads and locks them all, in account order (two workers holding the same
# events during a rebalance take them in the same order), returning where each chain stands.
# The no-op DO UPDATE is what locks an existing head and makes RETURNING report it.
LOCK_HEADS = (
    "INSERT INTO audit_chain_heads (account, seq, hash)"
    " SELECT a, 0, $2 FROM unnest($1::text[]) a ORDER BY a"
    " ON CONFLICT (account) DO UPDATE SET account = EXCLUDED.account"
    " RETURNING account, seq, hash"
)
ADVANCE_HEADS = (
    "UPDATE audit_chain_heads h SET seq = u.seq, hash = u.hash, key_id = u.key_id, mac = u.mac"
    " FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::text[], $5::bytea[])"
    " AS u(account, seq, hash, key_id, mac) WHERE h.account = u.account"
)


class _AlreadyStored(Exception):
    """Some events of the batch are in the store already: the transaction is rolled back."""


async def write_batch(
    conn: Conn, records: list[AuditRecord], dead: list[DeadLetter], keys: ChainKeys
) -> int:
    """write_prepared, for records not prepared yet."""
    return await write_prepared(conn, [prepare(r) for r in records], dead, keys)


async def write_prepared(
    conn: Conn, events: list[Prepared], dead: list[DeadLetter], keys: ChainKeys
) -> int:
    """Store a batch in one transaction; return how many events were new. New links and the
    heads of the batch's accounts are made with the current chain key.

    The chain heads of the batch's accounts are locked first, so that two workers holding the
    same events (during a rebalance) serialize: the second sees the first's rows and skips
    them, and every account's chain stays one line. Events are rarely stored already (only
    when they come again after a crash or a rebalance), so the batch is first written as if
    none were, in four round trips; if the insert finds one, that transaction is rolled back
    and the batch is written again without the stored ones."""
    unique = list({e.record.event_id: e for e in events}.values())
    try:
        return await _write_batch(conn, unique, dead, keys, skip_stored=False)
    except _AlreadyStored:
        return await _write_batch(conn, unique, dead, keys, skip_stored=True)


async def _write_batch(
    conn: Conn,
    unique: list[Prepared],
    dead: list[DeadLetter],
    keys: ChainKeys,
    skip_stored: bool,
) -> int:
    async with conn.transaction():
        heads: dict[str, tuple[int, bytes]] = {}
        if unique:
            accounts = sorted({e.record.account for e in unique})
            rows = await conn.fetch(LOCK_HEADS, accounts, GENESIS)
            heads = {r["account"]: (r["seq"], bytes(r["hash"])) for r in rows}
        if unique and skip_stored:
            stored = await conn.fetch(
                "SELECT event_id FROM audit_events WHERE (event_id, occurred_at) IN"
                " (SELECT * FROM unnest($1::uuid[], $2::timestamptz[]))",
                [e.record.event_id for e in unique],
                [e.record.occurred_at for e in unique],
            )
            seen = {r["event_id"] for r in stored}
            unique = [e for e in unique if e.record.event_id not in seen]
        if unique:
            key_id, key = keys.current_id, keys.keys[keys.current_id]
            new_rows = []
            for record, canonical, columns in unique:
                seq, previous = heads[record.account]
                current = link(key, key_id, seq + 1, previous, canonical)
                heads[record.account] = (seq + 1, current)
                new_rows.append((*columns, seq + 1, previous, current, key_id))
            signed = [sign_head(keys, a, seq, last) for a, (seq, last) in heads.items()]
            try:  # COPY: the cheapest way in, for this process and the database
                await conn.copy_records_to_table(
                    "audit_events", records=new_rows, columns=ALL_COLUMNS
                )
            except asyncpg.UniqueViolationError:
                if skip_stored:
                    raise  # stored meanwhile by an event of another account: not expected
                raise _AlreadyStored from None
            except (OverflowError, ValueError, TypeError) as exc:
                # COPY encodes rows here, and raises the codec's bare error (e.g. a uint32
                # schema_version past the integer column): data the store refuses, as asyncpg
                # reports it for query arguments, not an outage to retry.
                raise asyncpg.DataError(f"invalid input for COPY: {exc}") from exc
            await conn.execute(
                ADVANCE_HEADS,
                [h.account for h in signed],
                [h.seq for h in signed],
                [h.hash for h in signed],
                [h.key_id for h in signed],
                [h.mac for h in signed],
            )
        if dead:
            await conn.executemany(
                "INSERT INTO audit_dead_letters"
                " (topic, kafka_partition, kafka_offset, key, payload, reason)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                [(d.topic, d.partition, d.offset, d.key, d.payload, d.reason) for d in dead],
            )
    return len(unique)


def record_of(row: asyncpg.Record) -> AuditRecord:
    values = {c: row[c] for c in RECORD_COLUMNS}
    values["resource_labels"] = json.loads(row["resource_labels"])
    for state in ("old_state", "new_state"):
        values[state] = None if row[state] is None else json.loads(row[state])
    return AuditRecord(**values)


async def chain_rows(conn: Conn, account: str, start: datetime, end: datetime) -> list[ChainedRow]:
    """The account's rows from the first to the last chain position whose event lies in
    [start, end), whatever their own times: a chain is checked by position, not by clock."""
    bounds = await conn.fetchrow(
        "SELECT min(chain_seq) AS lo, max(chain_seq) AS hi FROM audit_events"
        " WHERE account = $1 AND occurred_at >= $2 AND occurred_at < $3",
        account,
        start,
        end,
    )
    if bounds is None or bounds["lo"] is None:
        return []
    rows = await conn.fetch(
        f"SELECT {', '.join(ALL_COLUMNS)} FROM audit_events"
        " WHERE account = $1 AND chain_seq BETWEEN $2 AND $3 ORDER BY chain_seq",
        account,
        bounds["lo"],
        bounds["hi"],
    )
    return [
        ChainedRow(
            r["chain_seq"], bytes(r["prev_hash"]), bytes(r["hash"]), r["chain_key_id"], record_of(r)
        )
        for r in rows
    ]


async def hash_at(conn: Conn, account: str, seq: int) -> bytes | None:
    value = await conn.fetchval(
        "SELECT hash FROM audit_events WHERE account = $1 AND chain_seq = $2", account, seq
    )
    return None if value is None else bytes(value)


async def chain_heads(conn: Conn) -> list[ChainHead]:
    rows = await conn.fetch(
        "SELECT account, seq, hash, key_id, mac FROM audit_chain_heads ORDER BY account"
    )
    return [
        ChainHead(r["account"], r["seq"], bytes(r["hash"]), r["key_id"], bytes(r["mac"]))
        for r in rows
    ]


async def chain_tail(conn: Conn, account: str) -> tuple[ChainHead | None, Newest | None]:
    """The account's signed head and its newest stored row by position."""
    head = await conn.fetchrow(
        "SELECT account, seq, hash, key_id, mac FROM audit_chain_heads WHERE account = $1",
        account,
    )
    newest = await conn.fetchrow(
        "SELECT chain_seq, hash, event_id FROM audit_events WHERE account = $1"
        " ORDER BY chain_seq DESC LIMIT 1",
        account,
    )
    return (
        None
        if head is None
        else ChainHead(
            head["account"], head["seq"], bytes(head["hash"]), head["key_id"], bytes(head["mac"])
        ),
        None
        if newest is None
        else Newest(newest["chain_seq"], bytes(newest["hash"]), str(newest["event_id"])),
    )


async def existing_partitions(conn: Conn) -> list[datetime]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'audit_events'::regclass"
        " AND c.relname ~ '^audit_events_[0-9]{4}_[0-9]{2}$'"
    )
    starts = []
    for row in rows:
        year, month = row["relname"].rsplit("_", 2)[-2:]
        starts.append(datetime(int(year), int(month), 1, tzinfo=UTC))
    return sorted(starts)


async def ensure_partitions(conn: Conn, now: datetime, behind: int, ahead: int) -> list[str]:
    """Create the monthly partitions around now; rows already in the default partition for a
    new month move into it (PostgreSQL refuses to attach otherwise)."""
    created = []
    have = set(await existing_partitions(conn))
    for start in partitions.months_to_have(now, behind, ahead):
        if start in have:
            continue
        name = partitions.partition_name(start)
        end = partitions.add_months(start, 1)
        async with conn.transaction():
            await conn.execute(f"CREATE TABLE {name} (LIKE audit_events INCLUDING DEFAULTS)")
            await conn.execute(
                f"WITH moved AS (DELETE FROM audit_events_default"
                f" WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *)"
                f" INSERT INTO {name} SELECT * FROM moved",
                start,
                end,
            )
            await conn.execute(
                f"ALTER TABLE audit_events ATTACH PARTITION {name}"
                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        created.append(name)
        log.info("created partition %s", name)
    return created


async def drop_expired(conn: Conn, now: datetime, retention_days: int) -> list[str]:
    """Retention: drop whole monthly partitions older than the retention, and expired rows of
    the default partition."""
    dropped = []
    for start in partitions.expired(await existing_partitions(conn), now, retention_days):
        name = partitions.partition_name(start)
        await conn.execute(f"DROP TABLE {name}")
        dropped.append(name)
        log.info("dropped partition %s (retention %d days)", name, retention_days)
    await conn.execute(
        "DELETE FROM audit_events_default WHERE occurred_at < $1",
        now - timedelta(days=retention_days),
    )
    return dropped

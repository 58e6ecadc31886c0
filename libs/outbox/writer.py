"""Adds an event to the outbox inside the caller's own transaction."""

from __future__ import annotations

import json

from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

from audit.v1 import event_pb2 as pb
from libs.events import codec
from libs.runtime.tracing import TRACER

NOTIFY_CHANNEL = "outbox"


async def add_to_outbox(
    conn: Connection | PoolConnectionProxy,
    *,
    event_id: str,
    topic: str,
    key: bytes,
    payload: bytes,
    headers: dict[str, str] | None = None,
    erase_when_sent: bool = False,
) -> None:
    """Must run inside the transaction that makes the change: both commit, or neither.
    `erase_when_sent`: the relay blanks the payload once Kafka has it (a secret inside)."""
    if not conn.is_in_transaction():
        raise RuntimeError("add_to_outbox needs the caller's transaction")
    # A span of the request's trace: the trace follows a change into the outbox.
    with TRACER.start_as_current_span(
        "outbox.insert", attributes={"messaging.destination.name": topic, "event.id": event_id}
    ):
        await conn.execute(
            "INSERT INTO outbox (event_id, topic, key, payload, headers, erase_when_sent)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            event_id,
            topic,
            key,
            payload,
            json.dumps(headers or {}),
            erase_when_sent,
        )
        await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)


async def add_event(
    conn: Connection | PoolConnectionProxy, event: pb.AuditEvent, topic: str = codec.TOPIC
) -> None:
    """An AuditEvent into the outbox, keyed and with the headers of the contract (codec)."""
    await add_to_outbox(
        conn,
        event_id=event.event_id,
        topic=topic,
        key=codec.key_of(event),
        payload=event.SerializeToString(),
        headers=codec.headers_of(event),
    )

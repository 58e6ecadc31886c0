"""Shared by the outbox tests: an outbox filled with events, without the authz service."""

from __future__ import annotations

import asyncpg

from audit.v1 import event_pb2 as ev
from libs.events import codec
from libs.migrations import migrate
from libs.outbox.writer import add_to_outbox
from services.authz.store.schema import SOURCES

ACCOUNTS = [f"acct{i}" for i in range(5)]


async def fill_outbox(database_url: str, topic: str, count: int) -> dict[str, bytes]:
    conn = await asyncpg.connect(database_url)
    payloads: dict[str, bytes] = {}
    try:
        await migrate(conn, SOURCES[:1])
        async with conn.transaction():
            for i in range(count):
                event = codec.new_event(
                    module="test",
                    scope=ACCOUNTS[i % len(ACCOUNTS)],
                    principal=ev.Principal(identifier="tester"),
                    action=ev.ACTION_CREATE,
                    resource_type="THING",
                    resource_identifier=f"t{i}",
                    old_state=None,
                    new_state={"n": i},
                    request=codec.Request(),
                )
                payload = event.SerializeToString()
                payloads[event.event_id] = payload
                await add_to_outbox(
                    conn,
                    event_id=event.event_id,
                    topic=topic,
                    key=codec.key_of(event),
                    payload=payload,
                )
    finally:
        await conn.close()
    return payloads

"""Pre-built AuditEvents as the outbox stores them, and a bare producer to send them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from audit.v1 import event_pb2 as ev
from libs.events import codec

# The bare producer is configured like Relay._ensure_producer's (acks=all, idempotent, linger 2 ms):
# the difference between the two is the database round trips, not the producer settings.
LINGER_MS = 2
REQUEST_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Prepared:
    """One serialized AuditEvent, as the outbox stores it and as Kafka receives it."""

    identifier: str  # the resource identifier: how a consumer tells the events apart
    event_id: str
    key: bytes
    payload: bytes
    headers: dict[str, str]

    @property
    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.headers.items()]


def prepare(prefix: str, count: int, accounts: Sequence[str]) -> list[Prepared]:
    """`count` events of a user-creation kind, spread round-robin over the accounts."""
    events = []
    for i in range(count):
        event = codec.new_event(
            module="bench",
            scope=accounts[i % len(accounts)],
            principal=ev.Principal(type=ev.PRINCIPAL_TYPE_USER, identifier="bench"),
            action=ev.ACTION_CREATE,
            resource_type="USER",
            resource_identifier=f"{prefix}{i}",
            old_state=None,
            new_state={"identifier": f"{prefix}{i}", "email": f"{prefix}{i}@example.com"},
            request=codec.Request(client_ip="127.0.0.1", request_id=f"req-{prefix}{i}"),
        )
        events.append(
            Prepared(
                f"{prefix}{i}",
                event.event_id,
                codec.key_of(event),
                event.SerializeToString(),
                codec.headers_of(event),
            )
        )
    return events


def bare_producer(bootstrap: str, linger_ms: int = LINGER_MS) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


async def send(producer: AIOKafkaProducer, topic: str, event: Prepared) -> asyncio.Future[object]:
    future: asyncio.Future[object] = await producer.send(
        topic, value=event.payload, key=event.key, headers=event.kafka_headers
    )
    return future

"""The Kafka topics of the audit pipeline, declared in one place.

Every process that produces or consumes (the outbox relay, the projector) ensures them with an
admin client before its first send or subscription, so no topic is ever made by a producer's
auto-creation with the broker's defaults, and a consumer never subscribes to a topic that does
not exist yet (faust would then ignore it until its next metadata refresh).

Partitions of an existing topic are never changed here: adding partitions moves keys (accounts)
to other partitions, which is an operator's decision, so a mismatch is only logged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

# authz's notifications for people (proto/authz/v1/notifications.proto): invitations. Its
# records carry one-time secrets: restrict who may read it.
NOTIFICATIONS_TOPIC = "authz.notifications.v1"
DEAD_LETTER_SUFFIX = ".dlq"
DAY_MS = 24 * 3600 * 1000


class TopicSettings(BaseSettings):
    """AUDIT_TOPIC_* settings, read by every process that declares the topics."""

    model_config = SettingsConfigDict(env_prefix="AUDIT_TOPIC_", frozen=True)

    partitions: int = 8
    replication_factor: int = 1
    min_insync_replicas: int = 1
    retention_ms: int = 7 * DAY_MS  # consumers (projector, SIEM exporters) have a week
    dead_letter_retention_ms: int = 30 * DAY_MS
    # The broker refuses records past this; the relay dead-letters outbox rows it refuses.
    max_message_bytes: int = 1_048_588


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def spec_for(name: str, settings: TopicSettings) -> TopicSpec:
    """The declaration of a topic of the pipeline: events, or dead letters (name ends .dlq)."""
    dead_letters = name.endswith(DEAD_LETTER_SUFFIX)
    retention = settings.dead_letter_retention_ms if dead_letters else settings.retention_ms
    return TopicSpec(
        name=name,
        partitions=1 if dead_letters else settings.partitions,
        replication_factor=settings.replication_factor,
        config={
            "retention.ms": str(retention),
            "max.message.bytes": str(settings.max_message_bytes),
            "min.insync.replicas": str(settings.min_insync_replicas),
            "cleanup.policy": "delete",
        },
    )


class TopicsNotReady(Exception):
    pass


async def _ensure_once(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    response = await admin.create_topics(
        [
            NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config)
            for s in specs
        ]
    )
    for topic, code, *_ in response.topic_errors:
        error = for_code(code)
        if code and error is not TopicAlreadyExistsError:
            raise TopicsNotReady(f"creating {topic}: {error.__name__}")
    wanted = {s.name: s.partitions for s in specs}
    for described in await admin.describe_topics(list(wanted)):
        name, partitions = described["topic"], described["partitions"]
        if described["error_code"] or not partitions:
            raise TopicsNotReady(f"{name} has no metadata yet")
        if any(p["leader"] < 0 for p in partitions):
            raise TopicsNotReady(f"{name} has partitions without a leader")
        if len(partitions) != wanted[name]:
            log.warning(
                "topic %s has %d partitions, the declaration says %d: left as it is",
                name,
                len(partitions),
                wanted[name],
            )


async def ensure_topics(
    bootstrap_servers: str,
    specs: list[TopicSpec],
    *,
    backoff_max_s: float = 5.0,
    deadline_s: float | None = None,
) -> None:
    """Create the topics that are missing and wait until every partition has a leader.

    Retries while the broker is away (forever, unless deadline_s), so a process can start
    before its broker."""
    loop = asyncio.get_running_loop()
    give_up = None if deadline_s is None else loop.time() + deadline_s
    backoff = 0.2
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
        try:
            await admin.start()
            await _ensure_once(admin, specs)
            log.info("topics ready: %s", ", ".join(s.name for s in specs))
            return
        except (KafkaError, TopicsNotReady, OSError, TimeoutError) as exc:
            if give_up is not None and loop.time() >= give_up:
                raise
            log.warning("topics not ready (%r); retrying in %.1f s", exc, backoff)
        finally:
            await admin.close()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, backoff_max_s)

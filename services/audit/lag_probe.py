"""The consumer group's lag on the events topic, read from the broker (committed offsets beside
the end offsets of every partition), for the worker's health."""

from __future__ import annotations

import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)


class GroupLag:
    def __init__(self, bootstrap_servers: str, group_id: str, topic: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topic = topic
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.partition_lags: dict[int, int] = {}  # of the last sample

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            await self.close()
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000
            )
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                enable_auto_commit=False,
                request_timeout_ms=5000,
            )
            self._admin, self._consumer = admin, consumer
            await admin.start()
            await consumer.start()
        return self._admin, self._consumer

    async def sample(self) -> tuple[int, int] | None:
        """(lag, sum of committed offsets), or None when the broker cannot tell."""
        try:
            admin, consumer = await self._clients()
            described = await admin.describe_topics([self.topic])
            partitions = [p["partition"] for p in described[0]["partitions"]]
            if not partitions:
                return None
            tps = [TopicPartition(self.topic, p) for p in partitions]
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            offsets = await admin.list_consumer_group_offsets(self.group_id, partitions=tps)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.info("group lag unknown: %r", exc)
            await self.close()
            return None
        committed = {
            tp: offsets[tp].offset if tp in offsets and offsets[tp].offset >= 0 else starts[tp]
            for tp in tps
        }
        self.partition_lags = {tp.partition: max(0, ends[tp] - committed[tp]) for tp in tps}
        return sum(self.partition_lags.values()), sum(committed.values())

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()

"""Wait until a Kafka broker accepts a topic and a record: `kafka_probe.py HOST:PORT --timeout S`.

Used by scripts/stack: a broker that listens is not yet a broker that works, so readiness means
a client could create a topic and produce to it with acks=all.
"""

import argparse
import asyncio
import contextlib
import logging
import sys
import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

PROBE_TOPIC = "_stack_probe"


async def probe_once(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(PROBE_TOPIC, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=5000
    )
    await producer.start()
    try:
        await producer.send_and_wait(PROBE_TOPIC, b"ping")
    finally:
        await producer.stop()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    # Connection refusals while the broker boots are expected; the final error is reported.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    deadline = time.monotonic() + args.timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(probe_once(args.bootstrap), timeout=15)
            return 0
        except (KafkaError, OSError, TimeoutError) as exc:
            last_error = exc
            await asyncio.sleep(0.5)
    print(
        f"kafka at {args.bootstrap} not ready after {args.timeout:.0f} s: {last_error!r}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

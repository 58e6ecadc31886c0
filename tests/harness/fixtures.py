"""pytest fixtures for the real services: session-wide endpoints, per-test databases and names."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.harness.endpoints import (
    ServiceUnavailable,
    kafka_endpoint,
    opa_endpoint,
    postgres_endpoint,
    unavailable,
)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    try:
        with kafka_endpoint() as bootstrap:
            yield bootstrap
    except ServiceUnavailable as exc:
        unavailable("Kafka", str(exc))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        with postgres_endpoint() as url:
            yield url
    except ServiceUnavailable as exc:
        unavailable("PostgreSQL", str(exc))


@pytest.fixture(scope="session")
def opa_url() -> Iterator[str]:
    """The shared OPA server (governance); tests that stop OPA start their own (OwnOpa)."""
    try:
        with opa_endpoint() as url:
            yield url
    except ServiceUnavailable as exc:
        unavailable("OPA", str(exc))


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    try:
        admin = await asyncpg.connect(postgres_url)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL", repr(exc))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(postgres_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses: for topics and consumer groups."""
    return f"{request.node.name[:40].strip('_[]')}-{uuid.uuid4().hex[:10]}".replace("[", "-")


@pytest.fixture
async def topic(kafka_bootstrap: str, unique_name: str) -> AsyncIterator[str]:
    """A fresh 4-partition topic for one test, deleted afterwards."""
    name = f"t-{unique_name}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()

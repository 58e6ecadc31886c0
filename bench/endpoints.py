"""Where the benchmarks find Kafka and PostgreSQL, and throw-away databases and topics there."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]


class BenchSettings(BaseSettings):
    """KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL and OPA_URL, as `scripts/stack env` prints them."""

    model_config = SettingsConfigDict(frozen=True)

    kafka_bootstrap_servers: str | None = None
    database_url: SecretStr | None = None
    opa_url: str | None = None


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap_servers: str
    database_url: str  # a database the role can connect to and CREATE DATABASE from
    opa_url: str = ""


def endpoints() -> Endpoints:
    """From the environment; else what `scripts/stack env` prints (the stack must be up)."""
    settings = BenchSettings()
    kafka = settings.kafka_bootstrap_servers
    url = settings.database_url.get_secret_value() if settings.database_url else None
    opa = settings.opa_url
    if kafka is None or url is None or opa is None:
        out = subprocess.run(
            [str(ROOT / "scripts" / "stack"), "env"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        stack = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        kafka = kafka or stack["KAFKA_BOOTSTRAP_SERVERS"]
        url = url or stack["DATABASE_URL"]
        opa = opa or stack.get("OPA_URL", "")
    return Endpoints(kafka, url, opa)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[str]:
    """An empty database of the benchmark's own (bench_<random>), dropped at the end."""
    name = unique_name("bench")
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(url, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def fresh_topics(bootstrap: str, names: list[str], partitions: int) -> AsyncIterator[None]:
    """Topics of the benchmark's own, deleted at the end."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
        )
        try:
            yield
        finally:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def delete_topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic whose name starts with prefix (those a benchmark's consumers, e.g. a
    faust app's `<group>-__assignor-__leader`, created on their own); return their names."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = sorted(name for name in await admin.list_topics() if name.startswith(prefix))
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()

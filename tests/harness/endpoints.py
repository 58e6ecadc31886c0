"""Where the tests find Kafka, PostgreSQL and OPA.

In order: the endpoints named by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL; containers started with
testcontainers where a Docker engine answers; else the project's local stack (scripts/stack up).
Under CI=true a service that cannot be had fails the run; elsewhere the tests that need it skip.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]


class ServiceUnavailable(Exception):
    pass


def unavailable(what: str, why: str) -> NoReturn:
    message = f"{what} is not available: {why}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def local_stack_env() -> dict[str, str]:
    """Bring the local stack up (idempotent) and return the endpoints it serves."""
    up = subprocess.run(
        [str(ROOT / "scripts" / "stack"), "up"], capture_output=True, text=True, timeout=600
    )
    if up.returncode != 0:
        raise ServiceUnavailable(f"scripts/stack up failed:\n{up.stdout}\n{up.stderr}")
    out = subprocess.run(
        [str(ROOT / "scripts" / "stack"), "env"], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@contextlib.contextmanager
def kafka_endpoint() -> Iterator[str]:
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield bootstrap
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        container: Any = KafkaContainer("apache/kafka:4.0.1").with_kraft()
        with container:
            yield container.get_bootstrap_server()
        return
    yield local_stack_env()["KAFKA_BOOTSTRAP_SERVERS"]


@contextlib.contextmanager
def postgres_endpoint() -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        container: Any = PostgresContainer("postgres:15", driver=None)
        with container:
            yield container.get_connection_url()
        return
    yield local_stack_env()["DATABASE_URL"]


@contextlib.contextmanager
def opa_endpoint() -> Iterator[str]:
    """OPA_URL when set, else the local stack's OPA (scripts/stack builds and starts it)."""
    if url := os.environ.get("OPA_URL"):
        yield url
        return
    yield local_stack_env()["OPA_URL"]

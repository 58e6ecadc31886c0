"""An authz server, an audit query server on the same database, and events written straight
into the store (the projector is tested elsewhere)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from pydantic import SecretStr

from audit.v1 import query_pb2_grpc as q_grpc
from services.audit.domain.records import AuditRecord
from services.audit.query_server import running_query_server
from services.audit.settings import AuditSettings
from services.audit.store import repository
from services.authz.server import running_server
from tests.audit.helpers import KEYS
from tests.authz.clients import (
    Authz,
    admin_token,
    bind,
    connect,
    create_user,
    settings_for,
    user,
    user_token,
)

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class QueryApi:
    authz: Authz
    stub: q_grpc.AuditQueryServiceAsyncStub
    channel: grpc.aio.Channel
    database_url: str
    admin: tuple[tuple[str, str], ...]  # metadata of account a's administrator
    port: int = 0  # the audit query API's

    def as_token(self, token: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[QueryApi]:
    async with running_server(settings_for(database_url)) as authz_server:
        authz = await connect(authz_server)
        settings = AuditSettings(
            database_url=SecretStr(database_url),
            port=0,
            authz_target=f"127.0.0.1:{authz_server.port}",
        )
        async with running_query_server(settings) as query_server:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{query_server.port}")
            stub = q_grpc.AuditQueryServiceStub(channel)
            yield QueryApi(
                authz,
                stub,
                channel,
                database_url,
                (("authorization", f"Bearer {authz.token}"),),
                query_server.port,
            )
            await channel.close(None)
        await authz.channel.close(None)


async def viewer_of(api: QueryApi, identifier: str, scope: str) -> str:
    """A user of account a who may view the audit trail of `scope` (and below) only."""
    await create_user(api.authz, "a", identifier)
    role, everything = {
        0: ("_account_viewer", "_all_resources_including_child_scopes"),
        1: ("_organization_viewer", "_all_resources_including_child_scopes"),
        2: ("_project_viewer", "_all_project_level_resources"),
    }[scope.count("/")]
    await bind(api.authz, scope, f"{identifier}-viewer", user(identifier), role, everything)
    return await user_token(api.authz.server, "a", identifier)


def record(i: int, **fields: object) -> AuditRecord:
    values: dict[str, object] = {
        "event_id": uuid.UUID(int=i + 1),
        "occurred_at": NOW - timedelta(minutes=i),
        "account": "a",
        "organization": "",
        "project": "",
        "module": "authz",
        "principal_type": "USER",
        "principal_id": "alice",
        "principal_email": "alice@example.com",
        "action": "CREATE",
        "resource_type": "ROLE",
        "resource_id": f"r{i}",
        "resource_labels": {},
        "client_ip": "10.0.0.1",
        "user_agent": "test",
        "request_id": f"q{i}",
        "old_state": None,
        "new_state": {"n": i},
        "policy_revision": i,
        "schema_version": 1,
    }
    values.update(fields)
    return AuditRecord(**values)  # type: ignore[arg-type]


async def store(database_url: str, records: list[AuditRecord]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for start in range(0, len(records), 5000):
            await repository.write_batch(conn, records[start : start + 5000], [], KEYS)
    finally:
        await conn.close()


__all__ = ["NOW", "QueryApi", "admin_token", "api", "record", "store", "viewer_of"]

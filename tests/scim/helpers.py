"""An authz server with SCIM on a free port, a service account of an account holding exactly
the given permissions (with its bearer token), and HTTP clients of the SCIM API."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from services.authz.server import RunningServer, running_server
from tests.authz.clients import Authz, bind, connect, settings_for
from tests.security.attackers import EVERYTHING, outbox_events

SCIM_PERMISSIONS = [
    "core_user_view",
    "core_user_manage",
    "core_usergroup_view",
    "core_usergroup_manage",
]
SCIM_JSON = "application/scim+json"
_numbers = itertools.count()


@dataclass
class Scim:
    """The server, its administrator's gRPC client (account "a"), and the SCIM base."""

    server: RunningServer
    admin: Authz

    def base(self, account: str) -> str:
        return f"http://127.0.0.1:{self.server.scim_port}/scim/v2/accounts/{account}"

    def client(self, account: str, token: str) -> httpx2.AsyncClient:
        headers = {"Content-Type": SCIM_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx2.AsyncClient(base_url=self.base(account), headers=headers, timeout=30)


@asynccontextmanager
async def scim_server(database_url: str) -> AsyncIterator[Scim]:
    async with running_server(settings_for(database_url, scim_port=0)) as server:
        admin = await connect(server)
        try:
            yield Scim(server, admin)
        finally:
            await admin.channel.close(None)


async def provisioner(
    admin: Authz, account: str, permissions: list[str] | None = None
) -> tuple[str, str]:
    """A service account of `account` bound to a role with exactly `permissions` (default:
    those SCIM needs) over everything; (its identifier, its token)."""
    n = next(_numbers)
    identifier = f"idp{n}"
    await admin.service_accounts.CreateServiceAccount(
        pb.CreateServiceAccountRequest(
            service_account=pb.ServiceAccount(scope=account, identifier=identifier)
        )
    )
    granted = SCIM_PERMISSIONS if permissions is None else permissions
    principal = pb.Principal(
        type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier=identifier, scope=account
    )
    if granted:
        role = f"provisioning{n}"
        await admin.roles.CreateRole(
            pb.CreateRoleRequest(role=pb.Role(scope=account, identifier=role, permissions=granted))
        )
        await bind(admin, account, f"{identifier}-b", principal, role, EVERYTHING)
    issued = await admin.api_keys.CreateApiKey(
        pb.CreateApiKeyRequest(
            api_key=pb.ApiKey(scope=account, identifier=f"{identifier}-key", owner=principal)
        )
    )
    return identifier, issued.token


async def scim_events(database_url: str) -> list[ev.AuditEvent]:
    return [e for e in await outbox_events(database_url) if e.module == "scim"]


def scim_error(
    response: httpx2.Response, status: int, scim_type: str | None = None
) -> dict[str, Any]:
    """The response is the SCIM error document of that status (and scimType)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(SCIM_JSON)
    body: dict[str, Any] = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body

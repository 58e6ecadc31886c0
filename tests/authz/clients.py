"""Clients of an authz server for tests: typed stubs with a bearer token, settings, and the
helpers that make users, bindings and tokens."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from pydantic import SecretStr

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from libs.runtime.bearer_token import BearerToken
from services.authz.bootstrap import bootstrap_admin, bootstrap_operator, issue_user_key
from services.authz.server import RunningServer
from services.authz.settings import AuthzSettings


@dataclass
class Authz:
    server: RunningServer
    channel: grpc.aio.Channel
    access: pb_grpc.AccessServiceAsyncStub
    users: pb_grpc.UserServiceAsyncStub
    groups: pb_grpc.UserGroupServiceAsyncStub
    service_accounts: pb_grpc.ServiceAccountServiceAsyncStub
    roles: pb_grpc.RoleServiceAsyncStub
    resource_groups: pb_grpc.ResourceGroupServiceAsyncStub
    bindings: pb_grpc.RoleBindingServiceAsyncStub
    permissions: pb_grpc.PermissionServiceAsyncStub
    api_keys: pb_grpc.ApiKeyServiceAsyncStub
    token: str

    async def check(
        self,
        user: str,
        scope: str,
        resource_type: str,
        resource_id: str,
        permission: str,
        principal_type: int = pb.PRINCIPAL_TYPE_USER,
        principal_scope: str = "",
    ) -> bool:
        response = await self.access.Check(
            pb.CheckRequest(
                principal=pb.Principal(type=principal_type, identifier=user, scope=principal_scope),  # type: ignore[arg-type]
                resource_scope=scope,
                resource_type=resource_type,
                resource_identifier=resource_id,
                permission=permission,
            )
        )
        return response.allowed


def settings_for(database_url: str, **overrides: object) -> AuthzSettings:
    """Without Kafka by default (no relay): events stay in the outbox table."""
    fields: dict[str, object] = {
        "database_url": SecretStr(database_url),
        "port": 0,
        "poll_interval_s": 1.0,
        "shutdown_grace_s": 2.0,
        "run_relay": False,
    }
    return AuthzSettings(**{**fields, **overrides})  # type: ignore[arg-type]


async def connect(server: RunningServer, token: str | None = None) -> Authz:
    """A client of the server; without a token, as the administrator of account "a"."""
    if token is None:
        token = await admin_token(server, "a")
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{server.port}",
        interceptors=[BearerToken(token)],  # type: ignore[list-item]
    )
    return Authz(
        server,
        channel,
        pb_grpc.AccessServiceStub(channel),
        pb_grpc.UserServiceStub(channel),
        pb_grpc.UserGroupServiceStub(channel),
        pb_grpc.ServiceAccountServiceStub(channel),
        pb_grpc.RoleServiceStub(channel),
        pb_grpc.ResourceGroupServiceStub(channel),
        pb_grpc.RoleBindingServiceStub(channel),
        pb_grpc.PermissionServiceStub(channel),
        pb_grpc.ApiKeyServiceStub(channel),
        token,
    )


async def admin_token(server: RunningServer, account: str, admin: str = "admin") -> str:
    """A token of the account's administrator (bootstrap), as an operator would get one."""
    return await bootstrap_admin(server.management, account, admin)


async def operator(server: RunningServer) -> Authz:
    """A client of the platform operator, the only holder of the global permission registry."""
    return await connect(server, await bootstrap_operator(server.management, "operator"))


async def user_token(server: RunningServer, account: str, identifier: str) -> str:
    """A token of an existing user, issued as SYSTEM the way bootstrap issues its key: a test
    shortcut. Through the API nobody issues a key owned by another user; a real user gets its
    first token by accepting an invitation (tests/authz/test_invitations.py)."""
    return await issue_user_key(server.management, account, identifier, "test")


async def create_user(authz: Authz, account: str, identifier: str) -> pb.UserResponse:
    return await authz.users.CreateUser(
        pb.CreateUserRequest(
            user=pb.User(account=account, identifier=identifier, email=f"{identifier}@example.com")
        )
    )


async def bind(
    authz: Authz,
    scope: str,
    identifier: str,
    principal: pb.Principal,
    role: str,
    resource_group: str,
    role_scope: str = "",
) -> pb.RoleBindingResponse:
    return await authz.bindings.CreateRoleBinding(
        pb.CreateRoleBindingRequest(
            role_binding=pb.RoleBinding(
                scope=scope,
                identifier=identifier,
                principal=principal,
                role=role,
                role_scope=role_scope,
                resource_group=resource_group,
            )
        )
    )


def user(identifier: str) -> pb.Principal:
    return pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier=identifier)


def group(identifier: str, scope: str) -> pb.Principal:
    return pb.Principal(type=pb.PRINCIPAL_TYPE_USER_GROUP, identifier=identifier, scope=scope)

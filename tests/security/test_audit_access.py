"""Reaching further than granted through the audit query API: a real scope named like a probe,
and authz behind TLS / mutual TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from pydantic import SecretStr

from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from services.audit.query_server import running_query_server
from services.audit.settings import AuditSettings
from services.authz.server import running_server
from tests.audit.query_fixtures import QueryApi
from tests.authz.clients import admin_token, bind, create_user, settings_for, user, user_token
from tests.authz.test_tls import pki

pytestmark = pytest.mark.integration

__all__ = ["pki"]


def events_of(scope: str, exclude_children: bool = False) -> q.ListEventsRequest:
    return q.ListEventsRequest(
        filter=q.EventFilter(
            scopes=[q.ScopeFilter(scope=scope, exclude_child_scopes=exclude_children)]
        )
    )


async def token_of(api: QueryApi, identifier: str) -> tuple[tuple[str, str], ...]:
    return api.as_token(await user_token(api.authz.server, "a", identifier))


LEVEL_RESOURCES = {
    0: "_all_account_level_resources",
    1: "_all_organization_level_resources",
    2: "_all_project_level_resources",
}
VIEWER = {0: "_account_viewer", 1: "_organization_viewer", 2: "_project_viewer"}


@pytest.mark.parametrize(("parent", "child"), [("a", "a/_children"), ("a/o", "a/o/_children")])
async def test_a_real_scope_named_like_the_old_probe_grants_nothing_above_it(
    api: QueryApi, parent: str, child: str
) -> None:
    """bob may view `parent` itself and the real child scope `_children`, nothing else below
    `parent`; the old probe took his grant in `_children` for one over every child."""
    await create_user(api.authz, "a", "bob")
    for n, scope in enumerate((parent, child)):
        level = scope.count("/")
        await bind(api.authz, scope, f"bob-{n}", user("bob"), VIEWER[level], LEVEL_RESOURCES[level])
    bob = await token_of(api, "bob")
    await api.stub.ListEvents(events_of(child, exclude_children=True), metadata=bob)
    await api.stub.ListEvents(events_of(parent, exclude_children=True), metadata=bob)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.stub.ListEvents(events_of(parent), metadata=bob)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_grant_of_the_scope_alone_does_not_reach_its_children(api: QueryApi) -> None:
    await create_user(api.authz, "a", "olga")
    await bind(
        api.authz, "a/o", "olga-viewer", user("olga"), "_organization_viewer",
        "_all_organization_level_resources",
    )  # fmt: skip
    olga = await token_of(api, "olga")
    await api.stub.ListEvents(events_of("a/o", exclude_children=True), metadata=olga)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.stub.ListEvents(events_of("a/o"), metadata=olga)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "and below it" in (refused.value.details() or "")


async def query_through(
    database_url: str, tmp_path: Path, authz_tls: dict[str, str], audit_tls: dict[str, str]
) -> grpc.StatusCode:
    """ListEvents as account a's administrator through an audit API whose authz serves TLS."""
    files = {k: str(tmp_path / v) for k, v in authz_tls.items()}
    async with running_server(settings_for(database_url, **files)) as authz:
        token = await admin_token(authz, "a")
        fields: dict[str, Any] = {k: str(tmp_path / v) for k, v in audit_tls.items()}
        settings = AuditSettings(
            database_url=SecretStr(database_url),
            port=0,
            authz_target=f"127.0.0.1:{authz.port}",
            **fields,
        )
        async with running_query_server(settings) as audit:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{audit.port}")
            try:
                await q_grpc.AuditQueryServiceStub(channel).ListEvents(
                    events_of("a"), metadata=(("authorization", f"Bearer {token}"),), timeout=15
                )
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            finally:
                await channel.close(None)
    return grpc.StatusCode.OK


SERVER = {"tls_cert_file": "server_cert", "tls_key_file": "server_key"}
MUTUAL = {**SERVER, "tls_client_ca_file": "ca"}
CA = {"authz_tls_ca_file": "ca"}
CLIENT = {**CA, "authz_tls_cert_file": "client_cert", "authz_tls_key_file": "client_key"}
STRANGER = {**CA, "authz_tls_cert_file": "stranger_cert", "authz_tls_key_file": "stranger_key"}


@pytest.mark.parametrize(
    ("authz_tls", "audit_tls", "expected"),
    [
        (SERVER, CA, grpc.StatusCode.OK),
        (SERVER, {}, grpc.StatusCode.UNAVAILABLE),  # plaintext towards TLS: refused, not INTERNAL
        (MUTUAL, CLIENT, grpc.StatusCode.OK),
        (MUTUAL, CA, grpc.StatusCode.UNAVAILABLE),  # no client certificate
        (MUTUAL, STRANGER, grpc.StatusCode.UNAVAILABLE),  # a certificate of another CA
    ],
    ids=["tls", "tls-plaintext-client", "mtls", "mtls-no-cert", "mtls-stranger"],
)
async def test_the_audit_api_reaches_authz_over_tls_and_mutual_tls(
    database_url: str,
    pki: dict[str, bytes],
    tmp_path: Path,
    authz_tls: dict[str, str],
    audit_tls: dict[str, str],
    expected: grpc.StatusCode,
) -> None:
    assert await query_through(database_url, tmp_path, authz_tls, audit_tls) == expected


def test_a_client_certificate_without_its_key_or_ca_is_refused_at_start() -> None:
    from libs.grpc_tls import channel_credentials

    with pytest.raises(ValueError, match="key"):
        channel_credentials("ca.pem", "cert.pem", "")
    with pytest.raises(ValueError, match="CA"):
        channel_credentials("", "cert.pem", "key.pem")
    assert channel_credentials("", "", "") is None

"""Refusals of the audit query API are audited: an ACCESS_DENIED event (module `audit`) goes
through the outbox and the relay to the event topic, and one caller cannot flood a trail."""

from __future__ import annotations

import asyncio
import contextlib
import json

import asyncpg
import grpc
import pytest
from pydantic import SecretStr

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from libs.events import codec
from libs.events.coalescing import Coalescer
from libs.outbox.relay import Relay, RelayConfig
from services.audit.query_server import running_query_server
from services.audit.settings import AuditSettings
from services.authz.server import running_server
from tests.audit.query_fixtures import QueryApi, viewer_of
from tests.authz.clients import connect, settings_for
from tests.harness.services import read_topic

pytestmark = pytest.mark.integration


def events_of(scope: str) -> q.ListEventsRequest:
    return q.ListEventsRequest(filter=q.EventFilter(scopes=[q.ScopeFilter(scope=scope)]))


async def denials(database_url: str) -> list[ev.AuditEvent]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
    finally:
        await conn.close()
    decoded = [codec.decode(bytes(r["payload"])) for r in rows]
    return [e for e in decoded if e.module == "audit"]


async def test_a_refused_query_is_audited_once_per_window(api: QueryApi) -> None:
    pat = api.as_token(await viewer_of(api, "pat", "a/o/p"))
    for _ in range(30):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await api.stub.ListEvents(events_of("a/o"), metadata=pat)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError):
        await api.stub.VerifyChain(q.VerifyChainRequest(account="b"), metadata=pat)
    written = await denials(api.database_url)
    assert [(e.scope.account, e.scope.organization) for e in written] == [("a", "o"), ("b", "")]
    first = written[0]
    assert first.action == ev.ACTION_ACCESS_DENIED
    assert first.principal.identifier == "pat"
    assert first.principal.type == ev.PRINCIPAL_TYPE_USER
    assert first.resource.type == "AUDIT"
    assert json.loads(first.new_state_json)["permission"] == "core_audit_view"
    assert first.request.client_ip == "127.0.0.1"
    assert codec.key_of(written[1]) == b"b"  # the other account's trail, in its order


async def test_a_refused_get_event_is_audited_but_answers_not_found(api: QueryApi) -> None:
    from tests.audit.query_fixtures import record, store

    hidden = record(1, organization="o", project="q")
    await store(api.database_url, [hidden])
    pat = api.as_token(await viewer_of(api, "pat", "a/o/p"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.stub.GetEvent(q.GetEventRequest(event_id=str(hidden.event_id)), metadata=pat)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    written = await denials(api.database_url)
    assert [(e.scope.organization, e.scope.project) for e in written] == [("o", "q")]


async def test_the_relay_publishes_audit_api_denials(
    database_url: str, kafka_bootstrap: str, topic: str
) -> None:
    """`make run` and compose: the audit API and authz share a database, whose outbox the relay
    publishes."""
    async with running_server(settings_for(database_url)) as authz_server:
        authz = await connect(authz_server)
        settings = AuditSettings(
            database_url=SecretStr(database_url),
            port=0,
            authz_target=f"127.0.0.1:{authz_server.port}",
            topic=topic,
        )
        async with running_query_server(settings) as server:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
            stub = q_grpc.AuditQueryServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.ListEvents(
                    events_of("other"), metadata=(("authorization", f"Bearer {authz.token}"),)
                )
            await channel.close(None)
        await authz.channel.close(None)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    relay = asyncio.create_task(
        Relay(pool, RelayConfig(bootstrap_servers=kafka_bootstrap, poll_interval_s=0.2)).run()
    )
    try:
        records = await read_topic(kafka_bootstrap, topic, 1)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await pool.close()
    published = [codec.decode(r.value) for r in records if r.value is not None]
    assert [(e.module, e.action, e.scope.account) for e in published] == [
        ("audit", ev.ACTION_ACCESS_DENIED, "other")
    ]


def test_coalescing_folds_repeats_and_caps_each_caller() -> None:
    c = Coalescer(window_s=60, per_caller=2)
    assert c.admit("u", "a", "p", 0) == 0
    assert [c.admit("u", "a", "p", t) for t in (1, 2, 59)] == [None, None, None]
    assert c.admit("u", "a", "p", 61) == 3  # the next event counts what it stands for
    assert c.admit("u", "b", "p", 62) == 0
    assert c.admit("u", "c", "p", 63) is None  # u wrote 2 in this window (from 61)
    assert c.admit("v", "c", "p", 63) == 0  # another caller has its own budget
    assert c.admit("u", "c", "p", 125) == 0  # a new window


def test_one_call_about_thousands_of_scopes_writes_a_bounded_number() -> None:
    c = Coalescer(window_s=60, per_caller=20, max_keys=500)
    written = [c.admit("u", f"victim/s{i}", "p", 1.0) for i in range(5000)]
    assert sum(w is not None for w in written) == 20
    for caller in range(2000):  # many callers: the memory stays bounded
        c.admit(f"caller{caller}", "victim", "p", 2.0)
    assert len(c._last) <= 501


async def test_changing_someone_elses_saved_filter_is_audited(api: QueryApi) -> None:
    otto = api.as_token(await viewer_of(api, "otto", "a"))
    shared = await api.stub.CreateSavedFilter(
        q.CreateSavedFilterRequest(
            saved_filter=q.SavedFilter(
                scope="a",
                name="shared",
                visibility=q.VISIBILITY_EVERYONE,
                filter=q.EventFilter(scopes=[q.ScopeFilter(scope="a")]),
            )
        ),
        metadata=api.admin,
    )
    for _ in range(3):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await api.stub.DeleteSavedFilter(q.SavedFilterRequest(id=shared.id), metadata=otto)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    written = await denials(api.database_url)
    assert [
        (e.principal.identifier, json.loads(e.new_state_json)["permission"]) for e in written
    ] == [("otto", "owner_of_saved_filter")]

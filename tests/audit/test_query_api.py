"""The audit query API against a real PostgreSQL and the running authz service."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import symbol_database

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from services.audit.domain.records import AuditRecord
from tests.audit.query_fixtures import NOW, QueryApi, record, store, viewer_of
from tests.audit.text_oracle import text_matches

pytestmark = pytest.mark.integration

SCOPES = ["a", "a/o", "a/o/p", "a/o/q", "b"]
PRINCIPALS = [
    ("USER", "alice", "alice@example.com"),
    ("USER", "bob", "bob@corp.test"),
    ("SERVICE_ACCOUNT", "ci", ""),
    ("SYSTEM", "authz", ""),
]
ACTIONS = ["CREATE", "UPDATE", "DELETE", "LOGIN", "ACCESS_DENIED"]
IPS = ["10.0.0.5", "10.0.1.9", "192.168.1.7", "not-an-ip", ""]


def dataset() -> list[AuditRecord]:
    records = []
    for i in range(120):
        scope = [*SCOPES[i % len(SCOPES)].split("/"), "", ""]
        kind, identifier, email = PRINCIPALS[i % 4]
        records.append(
            record(
                i,
                occurred_at=NOW - timedelta(hours=i * 8 + 1),  # 40 days, off the preset edges
                account=scope[0],
                organization=scope[1],
                project=scope[2],
                principal_type=kind,
                principal_id=identifier,
                principal_email=email,
                action=ACTIONS[i % 5],
                resource_type=["ROLE", "USER", "PIPELINE"][i % 3],
                module="pipeline" if i % 7 == 0 else "authz",
                client_ip=IPS[i % 5],
            )
        )
    return records


def in_scope(r: AuditRecord, path: str, children: bool) -> bool:
    parts = path.split("/")
    mine = [r.account, r.organization, r.project][: len(parts)]
    if mine != parts:
        return False
    deeper = [r.account, r.organization, r.project][len(parts) :]
    return children or not any(deeper)


def in_network(ip: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def oracle(records: list[AuditRecord], f: q.EventFilter) -> list[str]:
    """What the filter means, in plain Python: the expected ids, newest first."""
    start = f.start.ToDatetime(tzinfo=NOW.tzinfo) if f.HasField("start") else None
    end = f.end.ToDatetime(tzinfo=NOW.tzinfo) if f.HasField("end") else None
    if start is None:
        days = {
            0: 7,
            q.TIME_PRESET_LAST_24_HOURS: 1,
            q.TIME_PRESET_LAST_30_DAYS: 30,
            q.TIME_PRESET_LAST_7_DAYS: 7,
            q.TIME_PRESET_LAST_90_DAYS: 90,
        }[f.preset]
        start, end = NOW - timedelta(days=days), NOW + timedelta(minutes=5)
    kept = []
    for r in records:
        checks = [
            start <= r.occurred_at < end,  # type: ignore[operator]
            any(in_scope(r, s.scope, not s.exclude_child_scopes) for s in f.scopes),
            not f.principals
            or any(
                r.principal_id == p.identifier
                and (
                    not p.type
                    or ev.PrincipalType.Name(p.type) == f"PRINCIPAL_TYPE_{r.principal_type}"
                )
                for p in f.principals
            ),
            not f.actions
            or r.action in [ev.Action.Name(a).removeprefix("ACTION_") for a in f.actions],
            not f.resource_types or r.resource_type in f.resource_types,
            not f.resource_identifiers or r.resource_id in f.resource_identifiers,
            not f.modules or r.module in f.modules,
            not f.exclude_login_events or r.action != "LOGIN",
            not f.exclude_system_events or r.principal_type != "SYSTEM",
            not f.client_networks or in_network(r.client_ip, list(f.client_networks)),
            not f.text or text_matches(f.text, r.resource_id, r.principal_email),
        ]
        if all(checks):
            kept.append(r)
    kept.sort(key=lambda r: (r.occurred_at, r.event_id), reverse=True)
    return [str(r.event_id) for r in kept]


def scopes(*paths: str, children: bool = True) -> list[q.ScopeFilter]:
    return [q.ScopeFilter(scope=p, exclude_child_scopes=not children) for p in paths]


def f(**fields: Any) -> q.EventFilter:
    fields.setdefault("scopes", scopes("a"))
    return q.EventFilter(**fields)


def explicit_range() -> q.EventFilter:
    filt = f()
    filt.start.FromDatetime(NOW - timedelta(days=20))
    filt.end.FromDatetime(NOW - timedelta(days=10))
    return filt


FILTERS: dict[str, q.EventFilter] = {
    "default: last 7 days": f(),
    "last 24 hours": f(preset=q.TIME_PRESET_LAST_24_HOURS),
    "last 30 days": f(preset=q.TIME_PRESET_LAST_30_DAYS),
    "last 90 days": f(preset=q.TIME_PRESET_LAST_90_DAYS),
    "explicit range": explicit_range(),
    "a principal of a type": f(
        preset=q.TIME_PRESET_LAST_90_DAYS,
        principals=[q.PrincipalFilter(type=ev.PRINCIPAL_TYPE_USER, identifier="alice")],
    ),
    "a principal of any type": f(
        preset=q.TIME_PRESET_LAST_90_DAYS, principals=[q.PrincipalFilter(identifier="ci")]
    ),
    "actions": f(preset=q.TIME_PRESET_LAST_90_DAYS, actions=[ev.ACTION_UPDATE, ev.ACTION_DELETE]),
    "resource types": f(preset=q.TIME_PRESET_LAST_90_DAYS, resource_types=["PIPELINE"]),
    "resource identifiers": f(
        preset=q.TIME_PRESET_LAST_90_DAYS, resource_identifiers=["r3", "r8", "r13"]
    ),
    "modules": f(preset=q.TIME_PRESET_LAST_90_DAYS, modules=["pipeline"]),
    "an organization without children": f(
        preset=q.TIME_PRESET_LAST_90_DAYS, scopes=scopes("a/o", children=False)
    ),
    "an organization with children": f(preset=q.TIME_PRESET_LAST_90_DAYS, scopes=scopes("a/o")),
    "two projects": f(preset=q.TIME_PRESET_LAST_90_DAYS, scopes=scopes("a/o/p", "a/o/q")),
    "no logins": f(preset=q.TIME_PRESET_LAST_90_DAYS, exclude_login_events=True),
    "no system events": f(preset=q.TIME_PRESET_LAST_90_DAYS, exclude_system_events=True),
    "a network": f(preset=q.TIME_PRESET_LAST_90_DAYS, client_networks=["10.0.0.0/24"]),
    "an address": f(preset=q.TIME_PRESET_LAST_90_DAYS, client_networks=["192.168.1.7"]),
    "text in an email": f(preset=q.TIME_PRESET_LAST_90_DAYS, text="CORP"),
    "text in a resource id": f(preset=q.TIME_PRESET_LAST_90_DAYS, text="r1"),
    "text of two words, the last unfinished": f(preset=q.TIME_PRESET_LAST_90_DAYS, text="Corp-TE"),
    "combined": f(
        preset=q.TIME_PRESET_LAST_90_DAYS,
        scopes=scopes("a/o"),
        actions=[ev.ACTION_CREATE, ev.ACTION_LOGIN],
        principals=[q.PrincipalFilter(identifier="alice"), q.PrincipalFilter(identifier="bob")],
        exclude_system_events=True,
        text="r",
    ),
}


async def all_pages(api: QueryApi, filt: q.EventFilter, size: int = 7, **extra: Any) -> list[str]:
    ids: list[str] = []
    token = ""
    for _ in range(1000):
        page = await api.stub.ListEvents(
            q.ListEventsRequest(filter=filt, page_size=size, page_token=token, **extra),
            metadata=api.admin,
        )
        assert len(page.events) <= size
        ids += [e.event_id for e in page.events]
        if not (token := page.next_page_token):
            return ids
    raise AssertionError("pagination did not end")


async def test_each_filter_alone_and_combined_matches_its_meaning(api: QueryApi) -> None:
    records = dataset()
    await store(api.database_url, records)
    for name, filt in FILTERS.items():
        expected = oracle(records, filt)
        got = await all_pages(api, filt)
        assert got == expected, name
    assert len({n for n, filt in FILTERS.items() if oracle(records, filt)}) >= len(FILTERS) - 1


async def test_pagination_holds_while_new_events_arrive(api: QueryApi) -> None:
    records = dataset()
    await store(api.database_url, records)
    filt = f(preset=q.TIME_PRESET_LAST_90_DAYS)
    expected = oracle(records, filt)
    ids: list[str] = []
    token = ""
    newer = 1000
    while True:
        page = await api.stub.ListEvents(
            q.ListEventsRequest(filter=filt, page_size=5, page_token=token), metadata=api.admin
        )
        ids += [e.event_id for e in page.events]
        await store(api.database_url, [record(newer, occurred_at=NOW + timedelta(seconds=newer))])
        newer += 1
        if not (token := page.next_page_token):
            break
    assert ids == expected  # nothing skipped, nothing repeated


async def test_a_page_token_cannot_be_altered_or_reused_for_another_query(api: QueryApi) -> None:
    await store(api.database_url, dataset())
    filt = f(preset=q.TIME_PRESET_LAST_90_DAYS)
    page = await api.stub.ListEvents(
        q.ListEventsRequest(filter=filt, page_size=3), metadata=api.admin
    )
    body, mac = page.next_page_token.split(".")
    altered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    other = f(preset=q.TIME_PRESET_LAST_30_DAYS)
    for filt_, token in ((filt, altered), (other, page.next_page_token), (filt, "garbage")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await api.stub.ListEvents(
                q.ListEventsRequest(filter=filt_, page_token=token), metadata=api.admin
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (info.value.details() or "").startswith("page_token:")


BAD: dict[str, tuple[Callable[[], q.EventFilter], str]] = {
    "inverted range": (lambda: _range(5, 10), "filter.end"),
    "longer than retention": (lambda: _range(800, -1), "filter.start"),
    "unknown action": (lambda: f(actions=[999]), "filter.actions"),
    "unknown preset": (lambda: f(preset=77), "filter.preset"),
    "invalid network": (lambda: f(client_networks=["10.0.0.300/8"]), "filter.client_networks"),
    "no scope": (lambda: q.EventFilter(), "filter.scopes"),
    "bad scope": (lambda: f(scopes=scopes("a/b/c/d")), "filter.scopes"),
}


def _range(days_ago_start: int, days_ago_end: int) -> q.EventFilter:
    filt = f()
    filt.start.FromDatetime(NOW - timedelta(days=days_ago_start))
    filt.end.FromDatetime(NOW - timedelta(days=days_ago_end))
    return filt


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_input_names_the_field(api: QueryApi, case: str) -> None:
    make, field = BAD[case]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await api.stub.ListEvents(q.ListEventsRequest(filter=make()), metadata=api.admin)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert (info.value.details() or "").startswith(f"{field}:"), info.value.details()


async def test_page_size_bounds_and_authentication(api: QueryApi) -> None:
    for size in (-1, 1001):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await api.stub.ListEvents(
                q.ListEventsRequest(filter=f(), page_size=size), metadata=api.admin
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for metadata in (None, api.as_token("aak_0000000000000000_" + "x" * 43), api.as_token("nope")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await api.stub.ListEvents(q.ListEventsRequest(filter=f()), metadata=metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_viewer_sees_only_the_scopes_it_may_view(api: QueryApi) -> None:
    records = dataset()
    await store(api.database_url, records)
    token = await viewer_of(api, "pat", "a/o/p")
    pat = api.as_token(token)
    mine = f(preset=q.TIME_PRESET_LAST_90_DAYS, scopes=scopes("a/o/p"))
    page = await api.stub.ListEvents(q.ListEventsRequest(filter=mine, page_size=1000), metadata=pat)
    assert [e.event_id for e in page.events] == oracle(records, mine)
    assert page.events
    for wider in (scopes("a/o"), scopes("a"), scopes("a/o/p", "a/o/q"), scopes("b")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await api.stub.ListEvents(q.ListEventsRequest(filter=f(scopes=wider)), metadata=pat)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    elsewhere = next(r for r in records if r.project == "q")
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await api.stub.GetEvent(q.GetEventRequest(event_id=str(elsewhere.event_id)), metadata=pat)
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND


async def test_get_event_shows_a_field_level_diff(api: QueryApi) -> None:
    changed = record(
        1,
        action="UPDATE",
        old_state={"name": "viewer", "permissions": ["a"], "meta": {"owner": "x", "gone": 1}},
        new_state={
            "name": "viewer",
            "permissions": ["a", "b"],
            "meta": {"owner": "y"},
            "new": True,
        },
    )
    await store(api.database_url, [changed])
    got = await api.stub.GetEvent(
        q.GetEventRequest(event_id=str(changed.event_id)), metadata=api.admin
    )
    assert got.event.action == ev.ACTION_UPDATE
    diff = {c.path: (c.old_json, c.new_json) for c in got.diff}
    assert diff == {
        "meta.gone": ("1", ""),
        "meta.owner": ('"x"', '"y"'),
        "new": ("", "true"),
        "permissions": ('["a"]', '["a", "b"]'),
    }
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await api.stub.GetEvent(q.GetEventRequest(event_id="not-a-uuid"), metadata=api.admin)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_saved_filters_visibility_ownership_and_use(api: QueryApi) -> None:
    records = dataset()
    await store(api.database_url, records)
    other = api.as_token(await viewer_of(api, "otto", "a"))
    private = await api.stub.CreateSavedFilter(
        q.CreateSavedFilterRequest(
            saved_filter=q.SavedFilter(
                scope="a",
                name="logins",
                visibility=q.VISIBILITY_ONLY_ME,
                filter=q.EventFilter(
                    actions=[ev.ACTION_LOGIN], scopes=scopes("a"), preset=q.TIME_PRESET_LAST_90_DAYS
                ),
            )
        ),
        metadata=api.admin,
    )
    shared = await api.stub.CreateSavedFilter(
        q.CreateSavedFilterRequest(
            saved_filter=q.SavedFilter(
                scope="a",
                name="pipelines",
                visibility=q.VISIBILITY_EVERYONE,
                filter=q.EventFilter(
                    resource_types=["PIPELINE"],
                    scopes=scopes("a"),
                    preset=q.TIME_PRESET_LAST_90_DAYS,
                ),
            )
        ),
        metadata=api.admin,
    )
    with pytest.raises(grpc.aio.AioRpcError) as duplicate:
        await api.stub.CreateSavedFilter(
            q.CreateSavedFilterRequest(saved_filter=q.SavedFilter(scope="a", name="logins")),
            metadata=api.admin,
        )
    assert duplicate.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as invisible:
        await api.stub.GetSavedFilter(q.SavedFilterRequest(id=private.id), metadata=other)
    assert invisible.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await api.stub.ListSavedFilters(q.ListSavedFiltersRequest(scope="a"), metadata=other)
    assert [s.name for s in listed.saved_filters] == ["pipelines"]
    mine = await api.stub.ListSavedFilters(
        q.ListSavedFiltersRequest(scope="a", page_size=1), metadata=api.admin
    )
    assert [s.name for s in mine.saved_filters] == ["logins"]
    assert mine.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as not_owner:
        await api.stub.DeleteSavedFilter(q.SavedFilterRequest(id=shared.id), metadata=other)
    assert not_owner.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # Used by someone else, with a field overridden.
    saved_only = await all_pages_as(api, other, q.EventFilter(), shared.id)
    assert saved_only == oracle(records, shared.filter)
    override = q.EventFilter(modules=["pipeline"])
    both = q.EventFilter()
    both.CopyFrom(shared.filter)
    both.modules.append("pipeline")
    assert await all_pages_as(api, other, override, shared.id) == oracle(records, both)

    shared.name = "pipelines, renamed"
    renamed = await api.stub.UpdateSavedFilter(shared, metadata=api.admin)
    assert renamed.etag != shared.etag
    stale = q.SavedFilter()
    stale.CopyFrom(shared)
    with pytest.raises(grpc.aio.AioRpcError) as aborted:
        await api.stub.UpdateSavedFilter(stale, metadata=api.admin)
    assert aborted.value.code() == grpc.StatusCode.ABORTED
    await api.stub.DeleteSavedFilter(q.SavedFilterRequest(id=private.id), metadata=api.admin)


async def all_pages_as(api: QueryApi, metadata: Any, filt: q.EventFilter, saved: str) -> list[str]:
    page = await api.stub.ListEvents(
        q.ListEventsRequest(filter=filt, saved_filter_id=saved, page_size=1000), metadata=metadata
    )
    return [e.event_id for e in page.events]


async def test_export_of_a_hundred_thousand_events_streams_and_resumes(api: QueryApi) -> None:
    total = 100_000
    await store(
        api.database_url,
        [record(i, occurred_at=NOW - timedelta(milliseconds=500 * i)) for i in range(total)],
    )
    request = q.ExportEventsRequest(
        filter=f(preset=q.TIME_PRESET_LAST_24_HOURS), format=q.EXPORT_FORMAT_CSV
    )
    chunks = 0
    data = io.StringIO()
    last = ""
    async for chunk in api.stub.ExportEvents(request, metadata=api.admin):
        chunks += 1
        data.write(chunk.data.decode())
        last = chunk.last_event_id
    rows = list(csv.reader(io.StringIO(data.getvalue())))
    assert rows[0][0] == "event_id"
    assert len(rows) == total + 1
    assert len({r[0] for r in rows[1:]}) == total
    assert chunks >= total // 1000
    assert last == rows[-1][0]

    # JSON Lines, interrupted after 3 chunks and resumed from the last event sent.
    jsonl = q.ExportEventsRequest(filter=request.filter, format=q.EXPORT_FORMAT_JSON_LINES)
    seen: list[str] = []
    stream = api.stub.ExportEvents(jsonl, metadata=api.admin)
    async for chunk in stream:
        seen += [json.loads(line)["event_id"] for line in chunk.data.decode().splitlines()]
        if len(seen) >= 3000:
            stream.cancel()
            break
    jsonl.resume_after_event_id = seen[-1]
    async for chunk in api.stub.ExportEvents(jsonl, metadata=api.admin):
        seen += [json.loads(line)["event_id"] for line in chunk.data.decode().splitlines()]
    assert seen == [r[0] for r in rows[1:]]


async def test_verify_chain_rpc_names_the_broken_link(api: QueryApi) -> None:
    records = [record(i) for i in range(30)]
    await store(api.database_url, records)
    intact = await api.stub.VerifyChain(q.VerifyChainRequest(account="a"), metadata=api.admin)
    assert intact.intact
    assert intact.events_checked == 30
    conn = await asyncpg.connect(api.database_url)
    try:
        await conn.execute(
            "UPDATE audit_events SET resource_id = 'forged' WHERE event_id = $1",
            records[7].event_id,
        )
        position = await conn.fetchval(
            "SELECT chain_seq FROM audit_events WHERE event_id = $1", records[7].event_id
        )
    finally:
        await conn.close()
    broken = await api.stub.VerifyChain(q.VerifyChainRequest(account="a"), metadata=api.admin)
    assert not broken.intact
    assert broken.broken_event_id == str(records[7].event_id)
    assert broken.broken_at_position == position
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await api.stub.VerifyChain(q.VerifyChainRequest(account="b"), metadata=api.admin)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_every_query_rpc_needs_a_valid_token(api: QueryApi) -> None:
    service = q.DESCRIPTOR.services_by_name["AuditQueryService"]
    database = symbol_database.Default()
    for method in service.methods:
        request = database.GetSymbol(method.input_type.full_name)
        response = database.GetSymbol(method.output_type.full_name)
        path = f"/{service.full_name}/{method.name}"
        factory = api.channel.unary_stream if method.server_streaming else api.channel.unary_unary
        call = factory(path, request.SerializeToString, response.FromString)
        for metadata in (None, api.as_token("aak_0123456789abcdef_" + "x" * 43)):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await drain(call(request(), metadata=metadata), method.server_streaming)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, method.name


async def drain(call: Any, streaming: bool) -> None:
    if streaming:
        async for _ in call:
            pass
    else:
        await call

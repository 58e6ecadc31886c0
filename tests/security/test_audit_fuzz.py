"""Every RPC of the audit query API, fed hypothesis-made messages as a hostile client would send
them (NUL and control characters, huge lists, extreme timestamps, bogus page tokens and ids,
enum values out of range), as an administrator so that input reaches the store: no answer is
INTERNAL or UNKNOWN, and every INVALID_ARGUMENT names its field."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from tests.audit.query_fixtures import NOW, QueryApi, record, store, viewer_of

pytestmark = pytest.mark.integration

EXAMPLES = 100
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.ABORTED,
}

nasty_chars = st.characters(exclude_categories=["Cs"])  # protobuf strings are valid UTF-8
nasty_text = st.one_of(
    st.text(nasty_chars, max_size=40),
    st.sampled_from(
        ["", "a", "a/o", "a/o/p", "b", "a\n", "a\x00", "a/\x00", "a//o", "_", "-", "a/o/p/q",
         "x" * 129, "x" * 5000, "'; DROP TABLE audit_events; --", "%", "\\", "\u202e", "ü"]
    ),
)  # fmt: skip
valid_scope = st.sampled_from(["a", "a/o", "a/o/p", "b", "a/o/q"])
scope_text = st.one_of(valid_scope, nasty_text)
int32 = st.integers(-(2**31), 2**31 - 1)
page_size = st.one_of(st.integers(0, 1000), int32)
enum_value = st.one_of(st.integers(0, 12), int32)
huge = st.integers(0, 3000)


short_text = st.one_of(st.text(nasty_chars, max_size=8), st.sampled_from(["a", "a/o", "\x00"]))


def lists(element: st.SearchStrategy[Any], short: st.SearchStrategy[Any] = short_text) -> Any:
    """A few values, or very many copies of a short one."""
    return st.one_of(st.lists(element, max_size=4), st.builds(lambda v, n: [v] * n, short, huge))


timestamps = st.builds(
    timestamp_pb2.Timestamp,
    seconds=st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.integers(-62135596800 - 5, 253402300799 + 5),
        st.sampled_from([int(NOW.timestamp()) - 3600, int(NOW.timestamp()) + 60]),
        st.sampled_from([int(NOW.timestamp()) - 3600, int(NOW.timestamp()) + 60]),
    ),
    nanos=st.one_of(st.integers(0, 999_999_999), int32),
)
ids = st.one_of(nasty_text, st.uuids().map(str), st.just(str(record(0).event_id)))
mostly_empty = st.one_of(st.just(""), st.just(""), st.just(""), ids)
page_tokens = st.one_of(
    nasty_text, st.text("ABCDEFabcdef0123456789-_.", max_size=300), st.just("e30.AAAA")
)


FILTER_FIELDS = [
    "preset", "actions", "resource_types", "resource_identifiers", "modules",
    "client_networks", "text", "scopes", "principals", "range",
]  # fmt: skip


@st.composite
def filters(draw: st.DrawFn) -> q.EventFilter:
    """A filter with a few fields fuzzed and the others plausible, so that input also gets past
    the first check and into the store."""
    fuzzed = draw(st.sets(st.sampled_from(FILTER_FIELDS), max_size=3))
    f = q.EventFilter(
        exclude_login_events=draw(st.booleans()), exclude_system_events=draw(st.booleans())
    )
    f.preset = draw(int32 if "preset" in fuzzed else st.integers(0, 5))  # type: ignore[assignment]
    if "actions" in fuzzed:
        f.actions.extend(draw(lists(enum_value, enum_value)))
    for name in ("resource_types", "resource_identifiers", "modules", "client_networks"):
        if name in fuzzed:
            getattr(f, name).extend(draw(lists(nasty_text)))
    if "text" in fuzzed:
        f.text = draw(nasty_text)
    many = lists(scope_text, st.sampled_from(["a", "b", "a/o"]))
    plain = st.lists(valid_scope, min_size=1, max_size=3)
    for scope in draw(many if "scopes" in fuzzed else plain):
        f.scopes.add(scope=scope, exclude_child_scopes=draw(st.booleans()))
    if "principals" in fuzzed:
        for identifier in draw(lists(nasty_text)):
            f.principals.add(type=draw(enum_value), identifier=identifier)
            if len(f.principals) > 5:
                break  # the many copies of one identifier cover long lists
    if "range" in fuzzed:
        f.preset = q.TIME_PRESET_UNSPECIFIED
        f.start.CopyFrom(draw(timestamps))
        f.end.CopyFrom(draw(timestamps))
    return f


saved_filters = st.builds(
    q.SavedFilter,
    id=ids,
    scope=scope_text,
    name=nasty_text,
    visibility=enum_value,
    filter=filters(),
    owner=nasty_text,
    etag=nasty_text,
)
REQUESTS: dict[str, st.SearchStrategy[Message]] = {
    "ListEvents": st.builds(
        q.ListEventsRequest,
        filter=filters(),
        saved_filter_id=mostly_empty,
        page_size=page_size,
        page_token=st.one_of(st.just(""), page_tokens),
    ),
    "GetEvent": st.builds(q.GetEventRequest, event_id=ids),
    "ExportEvents": st.builds(
        q.ExportEventsRequest,
        filter=filters(),
        saved_filter_id=mostly_empty,
        format=enum_value,
        resume_after_event_id=mostly_empty,
    ),
    "VerifyChain": st.builds(
        q.VerifyChainRequest,
        account=scope_text,
        start=st.one_of(st.none(), timestamps),
        end=st.one_of(st.none(), timestamps),
        recorded_head_position=st.one_of(st.just(0), st.integers(-(2**63), 2**63 - 1)),
        recorded_head_hash=st.one_of(
            st.just(""), nasty_text, st.binary(min_size=32, max_size=32).map(bytes.hex)
        ),
    ),
    "CreateSavedFilter": st.builds(q.CreateSavedFilterRequest, saved_filter=saved_filters),
    "GetSavedFilter": st.builds(q.SavedFilterRequest, id=ids, etag=nasty_text),
    "UpdateSavedFilter": saved_filters,
    "DeleteSavedFilter": st.builds(q.SavedFilterRequest, id=ids, etag=nasty_text),
    "ListSavedFilters": st.builds(
        q.ListSavedFiltersRequest,
        scope=scope_text,
        page_size=page_size,
        page_token=st.one_of(st.just(""), page_tokens),
    ),
}


def outcome(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def fuzz(method: str, port: int, metadata: tuple[tuple[str, str], ...]) -> None:
    """Runs in a thread with a blocking channel: the servers keep the test's event loop."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = q_grpc.AuditQueryServiceStub(channel)
    rpc = getattr(stub, method)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(REQUESTS[method])
    def one(request: Message) -> None:
        def call() -> None:
            answer = rpc(request, metadata=metadata, timeout=30)
            if method == "ExportEvents":
                for _, _chunk in zip(range(3), answer, strict=False):
                    pass
                answer.cancel()

        code, details = outcome(call)
        event(code.name)  # --hypothesis-show-statistics: how deep the inputs reached
        assert code in ALLOWED, f"{method}: {code} {details!r} for {str(request)[:2000]}"
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            field = details.split(":", 1)[0]
            assert field, f"{method}: no field named in {details!r}"
            assert " " not in field, f"{method}: no field named in {details!r}"

    try:
        one()
    finally:
        channel.close()


@pytest.mark.parametrize("caller", ["admin", "viewer"])
@pytest.mark.parametrize("method", sorted(REQUESTS))
async def test_no_input_makes_an_rpc_fail_internally(
    api: QueryApi, method: str, caller: str
) -> None:
    """As account a's administrator (input reaches the store) and as a viewer of one project
    (input reaches the refusals and their audit events)."""
    assert set(REQUESTS) == set(
        q.DESCRIPTOR.services_by_name["AuditQueryService"].methods_by_name
    ), "every RPC is fuzzed"
    await store(api.database_url, [record(i) for i in range(5)])
    metadata = api.admin
    if caller == "viewer":
        metadata = api.as_token(await viewer_of(api, "vic", "a/o/p"))
    await asyncio.to_thread(fuzz, method, api.port, metadata)


def listing(scopes: tuple[str, ...] = ("a",), token: str = "", **fields: Any) -> Any:
    chosen = [q.ScopeFilter(scope=s) for s in scopes]
    return q.ListEventsRequest(filter=q.EventFilter(scopes=chosen, **fields), page_token=token)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (listing(resource_identifiers=["p\x00"]), "filter.resource_identifiers"),
        (listing(modules=["authz\n"]), "filter.modules"),
        (listing(text="x" * 257), "filter.text"),
        (listing(resource_types=["T"] * 101), "filter.resource_types"),
        (listing(scopes=("a\n",)), "filter.scopes"),
        (listing(scopes=("a",) * 51), "filter.scopes"),
        (
            listing(
                start=timestamp_pb2.Timestamp(seconds=-(2**62)),
                end=timestamp_pb2.Timestamp(seconds=0),
            ),
            "filter.start",
        ),
        (listing(principals=[q.PrincipalFilter(identifier="\a")]), "filter.principals.identifier"),
        (listing(token="x" * 2000), "page_token"),
    ],
)  # fmt: skip
async def test_bad_input_found_by_fuzzing_is_refused_naming_the_field(
    api: QueryApi, request_: q.ListEventsRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.stub.ListEvents(request_, metadata=api.admin)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith(f"{field}:")

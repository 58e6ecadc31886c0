"""The query API's use cases without services: an in-memory store, an authz that allows a set
of scopes, and a recorder of denials stand in for PostgreSQL, authz and the outbox."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from libs.events import codec
from services.audit.access_control import Viewer
from services.audit.chain_verification import Verification
from services.audit.domain.chain import ChainKeys
from services.audit.domain.errors import InvalidArgument, NotFound, PermissionDenied
from services.audit.domain.query import EventQuery, ScopeSelector
from services.audit.domain.records import AuditRecord
from services.audit.domain.saved_filters import SavedFilter
from services.audit.query_service.access import Caller, ViewAccess
from services.audit.query_service.chain_checks import ChainCheck, ChainChecks
from services.audit.query_service.events import EventQueries
from services.audit.query_service.saved_filters import SavedFilterDraft, SavedFilters
from services.audit.store.query_store import QueryStore

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
KEY = b"k" * 32
ALICE = Caller("alice-token", codec.Request("10.0.0.1", "test", "r1"))
BOB = Caller("bob-token", codec.Request("10.0.0.2", "test", "r2"))


def record(i: int, account: str = "a", **fields: object) -> AuditRecord:
    values: dict[str, object] = {
        "event_id": uuid.UUID(int=i + 1), "occurred_at": NOW - timedelta(minutes=i),
        "account": account, "organization": "", "project": "", "module": "authz",
        "principal_type": "USER", "principal_id": "alice", "principal_email": "",
        "action": "UPDATE", "resource_type": "ROLE", "resource_id": f"r{i}",
        "resource_labels": {}, "client_ip": "", "user_agent": "", "request_id": "",
        "old_state": {"n": 0}, "new_state": {"n": i}, "policy_revision": i, "schema_version": 1,
    }  # fmt: skip
    values.update(fields)
    return AuditRecord(**values)  # type: ignore[arg-type]


class Filter:
    """A FilterInput over a fixed set of scopes; laid over a saved one, it says so."""

    def __init__(self, *scopes: str, over: bytes = b"") -> None:
        self.scopes, self.over = scopes, over

    def laid_over(self, saved: bytes) -> Filter:
        return Filter(*self.scopes, over=saved)

    def query(self, now: datetime, retention_days: int, scope: str = "") -> EventQuery:
        paths = self.scopes or ((scope,) if scope else ())
        if not paths:
            raise InvalidArgument("filter.scopes", "give at least one scope")
        return EventQuery(now - timedelta(days=7), now, tuple(ScopeSelector(p) for p in paths))

    def stored(self) -> bytes:
        return ",".join(self.scopes).encode()

    def fingerprint(self) -> bytes:
        return self.stored() + b"|" + self.over


class Authz:
    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed

    async def whoami(self, token: str) -> Viewer:
        return Viewer("USER", token.removesuffix("-token"), "a")

    async def require_view(self, token: str, viewer: Viewer, scopes: list[ScopeSelector]) -> None:
        for s in scopes:
            if s.path not in self.allowed:
                raise PermissionDenied(f"no view in {s.path}", scope=s.path)


class Denials:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    async def record(
        self, viewer: Viewer, scope: str, permission: str, reason: str, request: codec.Request
    ) -> bool:
        self.recorded.append((viewer.key, scope, request.client_ip))
        return True


class Store(QueryStore):
    def __init__(self, records: list[AuditRecord]) -> None:
        self.records = sorted(records, key=lambda r: (r.occurred_at, r.event_id), reverse=True)
        self.saved: dict[uuid.UUID, SavedFilter] = {}

    def _after(self, after: tuple[datetime, str] | None) -> list[AuditRecord]:
        if after is None:
            return self.records
        return [r for r in self.records if (r.occurred_at, str(r.event_id)) < after]

    async def list_events(
        self, query: EventQuery, after: tuple[datetime, str] | None, limit: int
    ) -> list[AuditRecord]:
        paths = {s.path for s in query.scopes}
        return [r for r in self._after(after) if r.account in paths][:limit]

    async def iterate_events(
        self, query: EventQuery, after: tuple[datetime, str] | None, page: int
    ) -> AsyncIterator[list[AuditRecord]]:
        while records := await self.list_events(query, after, page):
            yield records
            after = (records[-1].occurred_at, str(records[-1].event_id))

    async def get_event(self, event_id: uuid.UUID) -> AuditRecord | None:
        return next((r for r in self.records if r.event_id == event_id), None)

    async def create_saved_filter(self, saved: SavedFilter) -> SavedFilter:
        self.saved[saved.id] = saved
        return saved

    async def get_saved_filter(self, filter_id: uuid.UUID, viewer: str) -> SavedFilter:
        saved = self.saved.get(filter_id)
        if saved is None or (saved.owner != viewer and saved.visibility != "EVERYONE"):
            raise NotFound(f"saved filter {filter_id} not found")
        return saved

    async def update_saved_filter(self, saved: SavedFilter, etag: str) -> SavedFilter:
        updated = dataclasses.replace(saved, etag=self.saved[saved.id].etag + 1)
        self.saved[saved.id] = updated
        return updated

    async def verify_account(
        self,
        account: str,
        start: datetime,
        end: datetime,
        keys: ChainKeys,
        recorded: tuple[int, bytes] | None,
    ) -> Verification:
        return Verification(len(self.records), None, None)


@pytest.fixture
def denials() -> Denials:
    return Denials()


def access(denials: Denials, *allowed: str) -> ViewAccess:
    return ViewAccess(Authz(set(allowed)), denials)


async def test_pages_follow_their_token_and_the_token_is_bound_to_its_filter(
    denials: Denials,
) -> None:
    events = EventQueries(Store([record(i) for i in range(5)]), access(denials, "a"), KEY, 90)
    first = await events.list_events(ALICE, Filter("a"), "", 2, "")
    assert [r.policy_revision for r in first.records] == [0, 1]
    second = await events.list_events(ALICE, Filter("a"), "", 2, first.next_page_token)
    assert [r.policy_revision for r in second.records] == [2, 3]
    last = await events.list_events(ALICE, Filter("a"), "", 2, second.next_page_token)
    assert ([r.policy_revision for r in last.records], last.next_page_token) == ([4], "")
    with pytest.raises(InvalidArgument) as refused:
        await events.list_events(BOB, Filter("a"), "", 2, first.next_page_token)
    assert refused.value.field == "page_token"


async def test_a_refused_scope_is_recorded_as_a_denial(denials: Denials) -> None:
    events = EventQueries(Store([record(0, "b")]), access(denials, "a"), KEY, 90)
    with pytest.raises(PermissionDenied):
        await events.list_events(ALICE, Filter("b"), "", 10, "")
    assert denials.recorded == [("USER:a/alice", "b", "10.0.0.1")]


async def test_an_event_out_of_view_does_not_exist_but_the_denial_is_recorded(
    denials: Denials,
) -> None:
    events = EventQueries(Store([record(0, "b")]), access(denials, "a"), KEY, 90)
    with pytest.raises(NotFound):
        await events.get_event(ALICE, str(uuid.UUID(int=1)))
    assert denials.recorded == [("USER:a/alice", "b", "10.0.0.1")]


async def test_an_event_comes_with_its_diff(denials: Denials) -> None:
    events = EventQueries(Store([record(3)]), access(denials, "a"), KEY, 90)
    found = await events.get_event(ALICE, str(uuid.UUID(int=4)))
    assert [(c.path, c.old_json, c.new_json) for c in found.diff] == [("n", "0", "3")]


async def test_export_has_one_header_and_resumes_after_an_event(denials: Denials) -> None:
    store = Store([record(i) for i in range(3)])
    events = EventQueries(store, access(denials, "a"), KEY, 90)
    chunks = [c async for c in events.export_events(ALICE, Filter("a"), "", "CSV", "")]
    lines = b"".join(c.data for c in chunks).decode().splitlines()
    assert lines[0].startswith("event_id,occurred_at")
    assert len(lines) == 4
    resumed = events.export_events(ALICE, Filter("a"), "", "JSON_LINES", str(uuid.UUID(int=1)))
    rest = [c async for c in resumed]
    assert rest[-1].last_event_id == str(uuid.UUID(int=3))
    assert len(b"".join(c.data for c in rest).splitlines()) == 2


async def test_an_unknown_export_format_is_refused_naming_the_field(denials: Denials) -> None:
    events = EventQueries(Store([]), access(denials, "a"), KEY, 90)
    with pytest.raises(InvalidArgument) as refused:
        [c async for c in events.export_events(ALICE, Filter("a"), "", "", "")]
    assert refused.value.field == "format"


async def test_a_saved_filter_is_laid_under_the_request(denials: Denials) -> None:
    store = Store([record(0)])
    saved = SavedFilters(store, access(denials, "a"), KEY, 90)
    created = await saved.create(ALICE, SavedFilterDraft("", "a", "mine", "EVERYONE", Filter()))
    assert (created.owner, created.visibility, created.etag) == ("USER:a/alice", "EVERYONE", 1)
    events = EventQueries(store, access(denials, "a"), KEY, 90)
    page = await events.list_events(ALICE, Filter("a"), str(created.id), 10, "")
    assert len(page.records) == 1


async def test_only_the_owner_changes_a_shared_filter_and_a_refusal_is_recorded(
    denials: Denials,
) -> None:
    saved = SavedFilters(Store([]), access(denials, "a"), KEY, 90)
    created = await saved.create(ALICE, SavedFilterDraft("", "a", "f", "EVERYONE", Filter()))
    assert (await saved.get(BOB, str(created.id))).id == created.id
    draft = SavedFilterDraft(str(created.id), "a", "g", "EVERYONE", Filter())
    with pytest.raises(PermissionDenied):
        await saved.update(BOB, draft)
    assert denials.recorded == [("USER:a/bob", "a", "10.0.0.2")]
    assert (await saved.update(ALICE, draft)).name == "g"


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (SavedFilterDraft("", "a//", "f", "ONLY_ME", Filter()), "saved_filter.scope"),
        (SavedFilterDraft("", "a", "", "ONLY_ME", Filter()), "saved_filter.name"),
        (SavedFilterDraft("", "a", "f", "7", Filter()), "saved_filter.visibility"),
    ],
)
async def test_a_saved_filter_is_checked_naming_the_field(
    denials: Denials, draft: SavedFilterDraft, field: str
) -> None:
    saved = SavedFilters(Store([]), access(denials, "a"), KEY, 90)
    with pytest.raises(InvalidArgument) as refused:
        await saved.create(ALICE, draft)
    assert refused.value.field == field


async def test_a_chain_is_checked_per_account_over_a_non_empty_range(denials: Denials) -> None:
    chains = ChainChecks(Store([record(0)]), access(denials, "a"), ChainKeys("k1", {"k1": KEY}))
    assert (await chains.verify(ALICE, ChainCheck("a", None, None))).checked == 1
    with pytest.raises(InvalidArgument) as deeper:
        await chains.verify(ALICE, ChainCheck("a/o", None, None))
    assert deeper.value.field == "account"
    with pytest.raises(InvalidArgument) as inverted:
        await chains.verify(ALICE, ChainCheck("a", (100, 0), (100, 0)))
    assert inverted.value.field == "end"

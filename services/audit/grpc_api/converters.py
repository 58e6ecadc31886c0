"""Protobuf <-> the audit domain. Protobuf types stop here."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from services.audit.chain_verification import Verification
from services.audit.domain import bounds, query
from services.audit.domain.errors import InvalidArgument
from services.audit.domain.query import EventQuery
from services.audit.domain.records import AuditRecord
from services.audit.domain.saved_filters import EVERYONE, ONLY_ME, SavedFilter
from services.audit.domain.scopes import check_scope
from services.audit.domain.text_search import search_words
from services.audit.query_service.chain_checks import ChainCheck
from services.audit.query_service.saved_filters import SavedFilterDraft


def _enum_value(enum: Any, name: str) -> int:
    try:
        return int(enum.Value(name))
    except ValueError:
        return int(name) if name.isdigit() else 0


def event_of(r: AuditRecord) -> ev.AuditEvent:
    event = ev.AuditEvent(
        event_id=str(r.event_id),
        scope=ev.Scope(account=r.account, organization=r.organization, project=r.project),
        module=r.module,
        principal=ev.Principal(
            type=_enum_value(ev.PrincipalType, f"PRINCIPAL_TYPE_{r.principal_type}"),  # type: ignore[arg-type]
            identifier=r.principal_id,
            email=r.principal_email,
        ),
        action=_enum_value(ev.Action, f"ACTION_{r.action}"),  # type: ignore[arg-type]
        resource=ev.Resource(
            type=r.resource_type, identifier=r.resource_id, labels=r.resource_labels
        ),
        request=ev.RequestMetadata(
            client_ip=r.client_ip, user_agent=r.user_agent, request_id=r.request_id
        ),
        old_state_json="" if r.old_state is None else json.dumps(r.old_state, sort_keys=True),
        new_state_json="" if r.new_state is None else json.dumps(r.new_state, sort_keys=True),
        policy_revision=r.policy_revision,
        schema_version=r.schema_version,
        trace_id=r.trace_id,
    )
    event.occurred_at.FromDatetime(r.occurred_at)
    return event


def merged(saved: q.EventFilter | None, given: q.EventFilter) -> q.EventFilter:
    """A saved filter with the fields the request sets laid over it."""
    if saved is None:
        return given
    result = q.EventFilter()
    result.CopyFrom(saved)
    for field, _ in given.ListFields():
        result.ClearField(field.name)  # type: ignore[arg-type]
    result.MergeFrom(given)
    if given.HasField("start") or given.HasField("end"):
        result.preset = q.TIME_PRESET_UNSPECIFIED
    elif given.preset:
        result.ClearField("start")
        result.ClearField("end")
    return result


def timestamp(message: Any, field: str) -> datetime:
    return bounds.moment(message.seconds, message.nanos, field)


def query_of(f: q.EventFilter, now: datetime, retention_days: int) -> query.EventQuery:
    """The domain query of a filter, every field checked against its bounds."""
    start = timestamp(f.start, "filter.start") if f.HasField("start") else None
    end = timestamp(f.end, "filter.end") if f.HasField("end") else None
    if f.preset not in q.TimePreset.values():
        raise InvalidArgument("filter.preset", f"unknown value {f.preset}")
    preset = q.TimePreset.Name(f.preset).removeprefix("TIME_PRESET_") if f.preset else ""
    start, end = query.time_range(start, end, preset, now, retention_days)
    if not f.scopes:
        raise InvalidArgument("filter.scopes", "give at least one scope")
    scopes = tuple(
        query.ScopeSelector(check_scope(s.scope, "filter.scopes"), not s.exclude_child_scopes)
        for s in bounds.values(f.scopes, "filter.scopes", bounds.MAX_SCOPES)
    )
    actions = []
    for a in bounds.values(f.actions, "filter.actions", bounds.MAX_VALUES):
        if a not in ev.Action.values() or a == ev.ACTION_UNSPECIFIED:
            raise InvalidArgument("filter.actions", f"unknown action {a}")
        actions.append(ev.Action.Name(a).removeprefix("ACTION_"))
    principals = []
    for p in bounds.values(f.principals, "filter.principals", bounds.MAX_VALUES):
        if p.type not in ev.PrincipalType.values():
            raise InvalidArgument("filter.principals.type", f"unknown principal type {p.type}")
        if not p.identifier:
            raise InvalidArgument("filter.principals.identifier", "give the identifier")
        bounds.text(p.identifier, "filter.principals.identifier", bounds.MAX_IDENTIFIER)
        kind = ev.PrincipalType.Name(p.type).removeprefix("PRINCIPAL_TYPE_") if p.type else ""
        principals.append((kind, p.identifier))
    networks = bounds.texts(
        f.client_networks, "filter.client_networks", bounds.MAX_VALUES, bounds.MAX_NETWORK
    )
    return query.EventQuery(
        start=start,
        end=end,
        scopes=scopes,
        principals=tuple(principals),
        actions=tuple(actions),
        resource_types=bounds.texts(
            f.resource_types, "filter.resource_types", bounds.MAX_VALUES, bounds.MAX_IDENTIFIER
        ),
        resource_ids=bounds.texts(
            f.resource_identifiers,
            "filter.resource_identifiers",
            bounds.MAX_VALUES,
            bounds.MAX_RESOURCE_ID,
        ),
        modules=bounds.texts(f.modules, "filter.modules", bounds.MAX_VALUES, bounds.MAX_IDENTIFIER),
        exclude_login=f.exclude_login_events,
        exclude_system=f.exclude_system_events,
        networks=tuple(query.network(n) for n in networks),
        text=_search_text(f.text),
    )


def _search_text(text: str) -> str:
    """Bounded, and holding a word to search for (services/audit/domain/text_search.py)."""
    bounds.text(text, "filter.text", bounds.MAX_TEXT)
    if text:
        search_words(text)
    return text


def saved_message(row: SavedFilter) -> q.SavedFilter:
    visibility = q.VISIBILITY_EVERYONE if row.visibility == EVERYONE else q.VISIBILITY_ONLY_ME
    return q.SavedFilter(
        id=str(row.id),
        scope=row.scope,
        name=row.name,
        visibility=visibility,
        filter=q.EventFilter.FromString(row.filter),
        owner=row.owner,
        etag=str(row.etag),
    )


class WireFilter:
    """An EventFilter as the service's FilterInput (query_service/filter_input.py)."""

    def __init__(self, message: q.EventFilter) -> None:
        self.message = message

    def laid_over(self, saved: bytes) -> WireFilter:
        return WireFilter(merged(q.EventFilter.FromString(saved), self.message))

    def query(self, now: datetime, retention_days: int, scope: str = "") -> EventQuery:
        message = self.message
        if scope and not message.scopes:
            message = q.EventFilter()
            message.CopyFrom(self.message)
            message.scopes.add(scope=scope)
        return query_of(message, now, retention_days)

    def stored(self) -> bytes:
        return self.message.SerializeToString()

    def fingerprint(self) -> bytes:
        return self.message.SerializeToString(deterministic=True)


def visibility_name(value: int) -> str:
    """EVERYONE or ONLY_ME (unspecified too); an unknown value as its number, which the service
    refuses."""
    if value == q.VISIBILITY_EVERYONE:
        return EVERYONE
    return ONLY_ME if value in q.Visibility.values() else str(value)


def saved_draft(f: q.SavedFilter) -> SavedFilterDraft:
    visibility = visibility_name(f.visibility)
    return SavedFilterDraft(f.id, f.scope, f.name, visibility, WireFilter(f.filter), f.etag)


def export_format_name(value: int) -> str:
    """CSV or JSON_LINES; "" for anything else, which the service refuses."""
    if value == q.EXPORT_FORMAT_CSV:
        return "CSV"
    return "JSON_LINES" if value == q.EXPORT_FORMAT_JSON_LINES else ""


def chain_check(request: q.VerifyChainRequest) -> ChainCheck:
    """The timestamps as given: the service checks them once the caller is known."""
    start = (request.start.seconds, request.start.nanos) if request.HasField("start") else None
    end = (request.end.seconds, request.end.nanos) if request.HasField("end") else None
    return ChainCheck(
        request.account, start, end, request.recorded_head_position, request.recorded_head_hash
    )


def verification_message(result: Verification) -> q.VerifyChainResponse:
    answer = q.VerifyChainResponse(intact=result.broken is None, events_checked=result.checked)
    if result.head is not None:
        answer.head_position = result.head.seq
        answer.head_hash = result.head.hash.hex()
        answer.head_key_id = result.head.key_id
    if result.broken is not None:
        answer.broken_at_position = result.broken.seq
        answer.broken_event_id = result.broken.event_id
        answer.reason = result.broken.reason
    return answer

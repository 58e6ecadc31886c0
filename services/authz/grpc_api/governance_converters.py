"""Protobuf <-> domain for governance (governance.proto). Protobuf types stop here."""

from __future__ import annotations

from typing import Any, cast

from authz.v1 import governance_pb2 as pb
from services.authz.domain.entities import GovernancePolicy, PolicyRef, PolicySet, Stored
from services.authz.domain.errors import InvalidArgument
from services.authz.domain.governance import Verdict

SEVERITIES = {pb.SEVERITY_ERROR: "error", pb.SEVERITY_WARNING: "warning"}
FAILURE_MODES = {
    pb.FAILURE_MODE_UNSPECIFIED: "",
    pb.FAILURE_MODE_CLOSED: "closed",
    pb.FAILURE_MODE_OPEN: "open",
}
EVENTS = {pb.GOVERNANCE_EVENT_ON_SAVE: "on_save", pb.GOVERNANCE_EVENT_ON_DELETE: "on_delete"}


def _number(table: dict[Any, str], name: str) -> Any:
    return next(number for number, n in table.items() if n == name)


def _named(table: dict[Any, str], number: int, field: str) -> str:
    if number not in table:
        raise InvalidArgument(field, f"give one of {', '.join(n for n in table.values() if n)}")
    return table[number]


def policy_from(m: pb.GovernancePolicy) -> GovernancePolicy:
    return GovernancePolicy(m.scope, m.identifier, m.name, m.rego)


def policy_to(s: Stored) -> pb.GovernancePolicy:
    p: GovernancePolicy = s.entity
    return pb.GovernancePolicy(
        scope=p.scope, identifier=p.identifier, name=p.name, rego=p.rego, etag=str(s.etag)
    )


def event_name(number: int, field: str) -> str:
    return _named(cast(dict[Any, str], EVENTS), number, field)


def policy_set_from(m: pb.PolicySet) -> PolicySet:
    return PolicySet(
        m.scope,
        m.identifier,
        m.name,
        tuple(m.entity_types),
        tuple(event_name(e, "policy_set.events") for e in m.events),
        _named(cast(dict[Any, str], SEVERITIES), m.severity, "policy_set.severity"),
        m.enabled,
        _named(cast(dict[Any, str], FAILURE_MODES), m.failure_mode, "policy_set.failure_mode"),
        tuple(PolicyRef(r.scope or m.scope, r.identifier) for r in m.policies),
    )


def policy_set_to(s: Stored) -> pb.PolicySet:
    p: PolicySet = s.entity
    return pb.PolicySet(
        scope=p.scope,
        identifier=p.identifier,
        name=p.name,
        entity_types=p.entity_types,
        events=[_number(cast(dict[Any, str], EVENTS), e) for e in p.events],
        severity=_number(cast(dict[Any, str], SEVERITIES), p.severity),
        enabled=p.enabled,
        failure_mode=_number(cast(dict[Any, str], FAILURE_MODES), p.failure_mode),
        policies=[pb.PolicyRef(scope=r.scope, identifier=r.identifier) for r in p.policies],
        etag=str(s.etag),
    )


def verdict_to(v: Verdict) -> pb.PolicySetVerdict:
    return pb.PolicySetVerdict(
        scope=v.scope,
        identifier=v.identifier,
        severity=_number(cast(dict[Any, str], SEVERITIES), v.severity),
        outcome=v.outcome,
        messages=v.messages,
    )

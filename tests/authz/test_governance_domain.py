"""Governance's pure part (services/authz/domain/governance.py) and the validation of its
entities, without services."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.authz.domain import governance, validation
from services.authz.domain.audit import Caller, Change
from services.authz.domain.entities import (
    GovernancePolicy,
    PolicyRef,
    PolicySet,
    from_body,
    to_body,
)
from services.authz.domain.errors import InvalidArgument
from services.authz.domain.governance import (
    PolicyUnavailable,
    PolicyViolation,
    Review,
    Verdict,
    enforce,
    forbidden_references,
    with_package,
)


def a_set(**overrides: object) -> PolicySet:
    fields: dict[str, object] = {
        "scope": "a",
        "identifier": "s",
        "entity_types": ("role",),
        "events": ("on_save",),
        "policies": (PolicyRef("a", "p"),),
    }
    return PolicySet(**{**fields, **overrides})  # type: ignore[arg-type]


def test_the_package_is_renamed_on_its_own_line() -> None:
    source = "# a comment\n\npackage mine.rules  # trailing\n\ndeny contains 1 if { true }\n"
    renamed = with_package(source, "governance.pabc.r7")
    assert renamed.splitlines()[2] == "package governance.pabc.r7"
    assert renamed.splitlines()[4] == source.splitlines()[4]
    with pytest.raises(InvalidArgument, match="package declaration"):
        with_package('deny contains "x" if { true }\npackage late\n', "governance.p.r1")
    with pytest.raises(InvalidArgument, match="package declaration"):
        with_package("deny := 1\n", "governance.p.r1")


@given(
    st.tuples(st.text(max_size=20), st.text(max_size=20)),
    st.tuples(st.text(max_size=20), st.text(max_size=20)),
)
def test_packages_of_different_policies_never_meet(a: tuple[str, str], b: tuple[str, str]) -> None:
    if a != b:
        assert governance.package_path(*a, 1) != governance.package_path(*b, 1)
        assert governance.module_id(*a) != governance.module_id(*b)
    assert governance.package_path(*a, 1) != governance.package_path(*a, 2)


def ref(*values: str) -> dict[str, object]:
    return {"type": "ref", "value": [{"type": "var", "value": values[0]}] + [
        {"type": "string", "value": v} for v in values[1:]
    ]}  # fmt: skip


def test_a_module_reads_only_its_input_and_its_own_package() -> None:
    own = "governance.pabc.r1"
    rules: list[object] = [
        {"body": [ref("data", "governance", "pabc", "r1", "helper"), ref("input", "after")]},
    ]
    ast = {"package": {"path": ref("data", "governance", "pabc", "r1")["value"]}, "rules": rules}
    assert forbidden_references(ast, own) == []
    rules.append({"body": [ref("data", "governance", "pother", "r1", "deny")]})
    rules.append({"body": [ref("http", "send")], "x": {"type": "var", "value": "data"}})
    assert forbidden_references(ast, own) == [
        "data",
        "data.governance.pother.r1.deny",
        "http.send",
    ]


def verdict(outcome: str, severity: str = "error", mode: str = "closed") -> Verdict:
    return Verdict("a", "s", severity, mode, outcome, ("m",) if outcome == "deny" else ())


verdicts = st.builds(
    verdict,
    st.sampled_from(["pass", "deny", "unevaluated"]),
    st.sampled_from(["error", "warning"]),
    st.sampled_from(["closed", "open"]),
)


@given(st.lists(verdicts, max_size=6))
def test_the_decision_follows_the_strongest_verdict(vs: list[Verdict]) -> None:
    decision = Review(tuple(vs)).decision
    error_deny = any(v.outcome == "deny" and v.severity == "error" for v in vs)
    closed_gap = any(v.outcome == "unevaluated" and v.failure_mode == "closed" for v in vs)
    if error_deny:
        assert decision == "deny"
    elif closed_gap:
        assert decision == "unavailable"
    elif any(v.outcome != "pass" for v in vs):
        assert decision == "warn"
    else:
        assert decision == "allow"
    change = Change("CREATE", "role", "a", "r", None, {"x": 1})
    if decision in ("deny", "unavailable"):
        with pytest.raises((PolicyViolation, PolicyUnavailable)) as refused:
            enforce(Review(tuple(vs)), change)
        assert isinstance(refused.value, PolicyViolation | PolicyUnavailable)
        record = refused.value.record
        assert record.action == ("POLICY_VIOLATION" if error_deny else "POLICY_UNAVAILABLE")
        assert record.labels["governance"] == decision
        assert record.new == change.new
    else:
        assert enforce(Review(tuple(vs)), change).labels["governance"] == decision


def test_verdicts_gather_each_sets_policy_messages() -> None:
    sets = [
        a_set(identifier="one", policies=(PolicyRef("a", "p"),)),
        a_set(identifier="two", policies=(PolicyRef("a", "q"),), severity="warning"),
    ]
    found = governance.verdicts(sets, {("a", "p"): ["no\x00pe", "no\x00pe"], ("a", "q"): []})
    assert [(v.identifier, v.outcome, v.messages) for v in found] == [
        ("one", "deny", ("no pe",)),
        ("two", "pass", ()),
    ]
    assert [v.outcome for v in governance.verdicts(sets, None)] == ["unevaluated"] * 2
    assert [v.failure_mode for v in governance.verdicts(sets, None)] == ["closed", "open"]


def test_only_enabled_sets_of_the_kind_and_event_apply() -> None:
    sets = [
        a_set(identifier="x"),
        a_set(identifier="off", enabled=False),
        a_set(identifier="bindings", entity_types=("role_binding",)),
        a_set(identifier="deletes", events=("on_delete",)),
    ]
    assert [s.identifier for s in governance.applicable(sets, "role", "on_save")] == ["x"]
    assert [s.identifier for s in governance.applicable(sets, "role", "on_delete")] == ["deletes"]
    assert governance.event_of("ROLE_ASSIGNMENT_DELETE") == "on_delete"
    assert governance.event_of("ADD_MEMBER") == "on_save"


def test_the_input_names_the_scope_and_hides_token_prefixes() -> None:
    key = {"scope": "a", "identifier": "k", "token_prefixes": ["abc"], "expires_at": None}
    change = Change("CREATE", "api_key", "a/o/prod1", "k", None, key)
    doc = governance.input_document(change, Caller("USER", "alice", "a"))
    assert doc["scope"] == {
        "path": "a/o/prod1",
        "level": "project",
        "account": "a",
        "organization": "o",
        "project": "prod1",
    }
    assert "token_prefixes" not in doc["after"]
    assert doc["event"] == "on_save"
    assert doc["caller"] == {"type": "USER", "identifier": "alice", "scope": "a"}


def test_policy_sets_are_validated_and_normalized() -> None:
    valid = validation.policy_set(a_set(entity_types=("role", "role"), severity="warning"))
    assert valid.entity_types == ("role",)
    assert valid.failure_mode == "open"  # a warning fails open unless told otherwise
    assert validation.policy_set(a_set()).failure_mode == "closed"
    for bad, field in (
        (a_set(entity_types=("permission",)), "policy_set.entity_types"),
        (a_set(events=()), "policy_set.events"),
        (a_set(severity="fatal"), "policy_set.severity"),
        (a_set(policies=()), "policy_set.policies"),
        (a_set(policies=(PolicyRef("b", "p"),)), "policy_set.policies.scope"),
        (a_set(scope="a", policies=(PolicyRef("a/o", "p"),)), "policy_set.policies.scope"),
        (a_set(policies=tuple(PolicyRef("a", f"p{i}") for i in range(21))), "policy_set.policies"),
    ):
        with pytest.raises(InvalidArgument) as raised:
            validation.policy_set(bad)
        assert raised.value.field == field


def test_policies_are_bounded_and_free_of_control_characters() -> None:
    ok = GovernancePolicy("a", "p", "", "package x\n\tdeny contains 1 if { true }\r\n")
    assert validation.governance_policy(ok) == ok
    for rego in ("", "package x\x00", "package x\x1b", "x" * (governance.MAX_REGO + 1)):
        with pytest.raises(InvalidArgument, match=r"policy\.rego"):
            validation.governance_policy(GovernancePolicy("a", "p", "", rego))


def test_governance_entities_round_trip_through_their_bodies() -> None:
    s = validation.policy_set(a_set())
    assert from_body("policy_set", to_body(s)) == s
    p = GovernancePolicy("a", "p", "n", "package x")
    assert from_body("governance_policy", to_body(p)) == p


def test_the_audit_store_accepts_the_refusal_events() -> None:
    """A refusal leaves authz as an AuditEvent (actions 18, 19) the projector decodes."""
    from services.audit.event_decoding import record_from_event
    from services.authz.audit_events import event_of
    from services.authz.domain.audit import CallInfo

    for action in ("POLICY_VIOLATION", "POLICY_UNAVAILABLE"):
        change = Change(action, "role", "a/o", "r", None, {"x": 1}, {"governance": "deny"})
        record = record_from_event(event_of(change, 7, CallInfo(Caller("USER", "alice", "a"))))
        assert (record.action, record.resource_type) == (action, "ROLE")
        assert record.resource_labels["governance"] == "deny"


def test_deny_must_be_a_set_of_messages() -> None:
    def head(**h: object) -> dict[str, object]:
        return {"head": {"name": "deny", **h}}

    key = {"type": "var", "value": "msg"}
    yes = {"type": "boolean", "value": True}
    assert governance.defines_deny_set({"rules": [head(key=key), head(key=key)]})
    assert not governance.defines_deny_set({"rules": [head(value=yes)]})
    assert not governance.defines_deny_set({"rules": [{"head": {"name": "allow", "key": key}}]})
    assert not governance.defines_deny_set({})

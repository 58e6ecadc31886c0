"""Property: PolicyIndex decides exactly as pycasbin's plain Enforcer on the same model and lines.

The alphabets are small so that random lines and requests actually meet; half of the requests are
drawn near a p line (its subject or a member, its scope or below, its resource) so that a good
share is allowed, and the run asserts that share so the property cannot pass vacuously.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from services.authz.casbin_model.enforcer import casbin_request, plain_enforcer
from services.authz.domain.lines import (
    ANY,
    EXACT,
    TREE,
    CheckRequest,
    PolicyLine,
    grant,
    membership,
    role_permission,
)
from services.authz.domain.policy_index import PolicyIndex

USERS = ["user:a/alice", "user:a/bob", "sa:a/o/ci"]
GROUPS = ["group:a/devs", "group:a/o/ops"]
ROLES = ["role:_project_viewer", "role:_pipeline_executor", "role:a/o/custom"]
PERMISSIONS = ["core_pipeline_view", "core_pipeline_execute", "core_secret_access"]
# a/op shares a prefix with a/o without being below it.
SCOPES = ["a", "a/o", "a/o/p", "a/o/q", "a/op", "b"]
TYPES = ["PIPELINE", "SECRET"]
IDS = ["deploy", "build"]
BINDINGS = ["a/b1", "a/o/b2", "a/o/p/b3"]
REQUESTS_PER_POLICY = 20

p_lines = st.builds(
    grant,
    subject=st.sampled_from(USERS + GROUPS),
    role=st.sampled_from(ROLES),
    scope=st.sampled_from(SCOPES),
    mode=st.sampled_from([EXACT, TREE]),
    resource_type=st.sampled_from([*TYPES, ANY]),
    resource_id=st.sampled_from([*IDS, ANY]),
    binding=st.sampled_from(BINDINGS),
)
# Members are never groups: the one-level membership PolicyIndex assumes (see its docstring).
g_lines = st.builds(membership, st.sampled_from(USERS), st.sampled_from(GROUPS))
g2_lines = st.builds(role_permission, st.sampled_from(ROLES), st.sampled_from(PERMISSIONS))
policies = st.tuples(
    st.lists(p_lines, max_size=10), st.lists(g_lines, max_size=5), st.lists(g2_lines, max_size=6)
).map(lambda parts: [line for part in parts for line in part])

random_requests = st.builds(
    CheckRequest,
    subject=st.sampled_from(USERS + GROUPS),
    scope=st.sampled_from(SCOPES),
    resource_type=st.sampled_from(TYPES),
    resource_id=st.sampled_from([*IDS, ""]),
    permission=st.sampled_from(PERMISSIONS),
)


@st.composite
def request_near(draw: st.DrawFn, line: PolicyLine, lines: list[PolicyLine]) -> CheckRequest:
    """A request this p line may well grant: its subject or a member, its role's permissions."""
    subject, role, scope, _, resource_type, resource_id, _ = line.values
    members = [v[0] for ptype, v in lines if ptype == "g" and v[1] == subject]
    permissions = [v[1] for ptype, v in lines if ptype == "g2" and v[0] == role]
    return CheckRequest(
        subject=draw(st.sampled_from([subject, subject, *members, *members, *USERS])),
        scope=draw(st.sampled_from([scope, scope, f"{scope}/p", "a/o/p"])),
        resource_type=resource_type if resource_type != ANY else draw(st.sampled_from(TYPES)),
        resource_id=resource_id if resource_id != ANY else draw(st.sampled_from([*IDS, ""])),
        permission=draw(st.sampled_from(permissions or PERMISSIONS)),
    )


@dataclass(frozen=True)
class Case:
    lines: list[PolicyLine]
    requests: list[CheckRequest]
    removed: set[PolicyLine]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    lines = draw(policies)
    grants = [line for line in lines if line.ptype == "p"]
    requests = random_requests
    if grants:
        near = st.sampled_from(grants).flatmap(lambda line: request_near(line, lines))
        requests = st.one_of(random_requests, near, near)
    removable = st.sampled_from(lines) if lines else st.nothing()
    return Case(
        lines=lines,
        requests=draw(
            st.lists(requests, min_size=REQUESTS_PER_POLICY, max_size=REQUESTS_PER_POLICY)
        ),
        removed=draw(st.sets(removable)),
    )


def test_index_decides_like_casbin() -> None:
    tally: Counter[str] = Counter()

    @settings(max_examples=500, deadline=None)
    @given(cases())
    def decides_alike(case: Case) -> None:
        index = PolicyIndex(case.lines)
        enforcer = plain_enforcer(case.lines)
        for req in case.requests:
            decision = index.check(req)
            grants = index.explain(req)
            assert decision is enforcer.enforce(*casbin_request(req)), req
            assert bool(grants) is decision, req
            tally["allowed" if decision else "denied"] += 1
            tally["via a group"] += any(g.subject != req.subject for g in grants)

    decides_alike()
    total = tally["allowed"] + tally["denied"]
    assert total >= 500 * REQUESTS_PER_POLICY
    # Typically ~16% allowed, 3-5% through a group; the bounds leave room for other seeds.
    assert 0.08 < tally["allowed"] / total < 0.9, tally
    assert tally["via a group"] / total > 0.01, tally


@settings(max_examples=500, deadline=None)
@given(cases())
def test_incremental_removal_equals_a_fresh_index(case: Case) -> None:
    index = PolicyIndex(case.lines)
    before = {req: index.explain(req) for req in case.requests}
    for line in case.removed:
        index.remove(line)
    fresh = PolicyIndex(set(case.lines) - case.removed)
    assert index.lines() == fresh.lines()
    for req in case.requests:
        assert index.check(req) is fresh.check(req), req
        assert index.explain(req) == fresh.explain(req), req
        assert index.permissions_of(req.subject, req.scope) == fresh.permissions_of(
            req.subject, req.scope
        )
    index.apply(added=case.removed, removed=())
    assert {req: index.explain(req) for req in case.requests} == before


@settings(max_examples=300, deadline=None)
@given(policies, st.sampled_from(USERS + GROUPS), st.sampled_from(SCOPES))
def test_permissions_of_is_what_check_allows_on_some_resource(
    lines: list[PolicyLine], subject: str, scope: str
) -> None:
    index = PolicyIndex(lines)
    # Every p line names a type and id of TYPES and IDS or "*", so these resources cover them all.
    expected = {
        permission
        for permission in PERMISSIONS
        for resource_type in TYPES
        for resource_id in IDS
        if index.check(CheckRequest(subject, scope, resource_type, resource_id, permission))
    }
    assert index.permissions_of(subject, scope) == expected


@settings(max_examples=300, deadline=None)
@given(cases(), policies)
def test_a_change_that_alters_a_decision_moves_the_generation(
    case: Case, added: list[PolicyLine]
) -> None:
    """What callers remember of the index's answers (BatchCheck's items) holds while its
    generation stays: no change may alter a decision without moving it."""
    index = PolicyIndex(case.lines)
    before = [index.check(req) for req in case.requests]  # now in the decision cache too
    generation = index.generation
    index.apply(added=added, removed=case.removed)
    after = [index.check(req) for req in case.requests]
    fresh = PolicyIndex((set(case.lines) - case.removed) | set(added))
    assert after == [fresh.check(req) for req in case.requests]
    if after != before:
        assert index.generation != generation

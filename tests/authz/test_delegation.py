"""Property: PolicyIndex.holds is sound. When it says a subject holds a permission over a grant
(scope, mode, resource type, id), every request such a grant would allow is allowed for the
subject already, including scopes below that no line names: granting it adds nothing."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from services.authz.domain import delegation
from services.authz.domain.lines import ANY, EXACT, TREE, CheckRequest, PolicyLine
from services.authz.domain.policy_index import PolicyIndex, Selector
from tests.authz.test_policy_matches_casbin import (
    IDS,
    PERMISSIONS,
    SCOPES,
    TYPES,
    USERS,
    policies,
)

selectors = st.tuples(
    st.sampled_from(SCOPES),
    st.sampled_from([EXACT, TREE]),
    st.sampled_from([*TYPES, ANY]),
    st.sampled_from([*IDS, ANY]),
)


def covered_requests(subject: str, permission: str, selector: Selector) -> Iterator[CheckRequest]:
    """Every request a p line with this selector matches, within a universe that includes a
    scope below it that no line mentions, an unknown type and id, and the id-less request."""
    scope, mode, rtype, rid = selector
    scopes = [scope] + (
        [s for s in SCOPES if s.startswith(scope + "/")] + [scope + "/zz"] if mode == TREE else []
    )
    types = [rtype] if rtype != ANY else [*TYPES, "OTHER"]
    ids = [rid] if rid != ANY else [*IDS, "", "other"]
    for s in scopes:
        for t in types:
            for i in ids:
                yield CheckRequest(subject, s, t, i, permission)


held_count = {"held": 0, "all": 0}


@st.composite
def near_a_line(draw: st.DrawFn, lines: list[PolicyLine]) -> tuple[str, str, Selector]:
    """(subject, permission, selector) drawn from a p line of the policy, narrowed or not, so
    that a good share of draws is held; else drawn at random."""
    p_lines = [line.values for line in lines if line.ptype == "p"]
    if not p_lines or draw(st.booleans()):
        return draw(st.sampled_from(USERS)), draw(st.sampled_from(PERMISSIONS)), draw(selectors)
    subject, role, scope, mode, rtype, rid, _binding = draw(st.sampled_from(p_lines))
    below = [s for s in SCOPES if s.startswith(scope + "/")] if mode == TREE else []
    scope = draw(st.sampled_from([scope, *below]))
    mode = draw(st.sampled_from([EXACT, mode]))
    rtype = draw(st.sampled_from([rtype, *TYPES])) if rtype == ANY else rtype
    rid = draw(st.sampled_from([rid, *IDS])) if rid == ANY else rid
    members = [
        v[0] for line in lines if line.ptype == "g" for v in [line.values] if v[1] == subject
    ]
    who = draw(st.sampled_from([subject, *members])) if subject.startswith("group:") else subject
    carried = [line.values[1] for line in lines if line.ptype == "g2" and line.values[0] == role]
    permission = draw(st.sampled_from([*carried, *PERMISSIONS] if carried else PERMISSIONS))
    return who, permission, (scope, mode, rtype, rid)


@settings(max_examples=400, deadline=None)
@given(st.data(), policies)
def test_what_a_subject_holds_it_may_grant_without_granting_more(
    data: st.DataObject, lines: list[PolicyLine]
) -> None:
    subject, permission, selector = data.draw(near_a_line(lines))
    index = PolicyIndex(lines)
    held_count["all"] += 1
    if not index.holds(subject, permission, selector):
        return
    held_count["held"] += 1
    for request in covered_requests(subject, permission, selector):
        assert index.check(request), (request, selector)


def test_the_property_was_not_vacuous() -> None:
    assert held_count["all"] >= 400
    assert held_count["held"] >= 25  # a fair share of draws (typically 50-100) did hold


def test_missing_lists_exactly_what_is_not_held() -> None:
    held = {("p1", ("a", TREE, ANY, ANY))}
    wanted = delegation.grants(["p1", "p2"], [("a", TREE, ANY, ANY)])
    missing = delegation.missing(wanted, lambda p, s: (p, s) in held)
    assert missing == [("p2", ("a", TREE, ANY, ANY))]
    assert delegation.describe(missing[0]) == "p2 on */* in 'a' and below"

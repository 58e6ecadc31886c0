"""PolicyIndex on the examples of DESIGN.md section 2, written directly as policy lines.

Every decision is also asked of pycasbin's plain Enforcer on the same lines, so these examples
pin the model file as well as the index.
"""

from __future__ import annotations

import pytest

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
from services.authz.domain.policy_index import Grant, PolicyIndex

ALICE = "user:a/alice"
BOB = "user:a/bob"
DEVS = "group:a/devs"
VIEWER = "role:_project_viewer"
EXECUTOR = "role:_pipeline_executor"
DEPLOYER = "role:a/o/deployer"
VIEW = "core_pipeline_view"
EXECUTE = "core_pipeline_execute"

ROLES = [
    role_permission(VIEWER, VIEW),
    role_permission(VIEWER, "core_project_view"),
    role_permission(EXECUTOR, VIEW),
    role_permission(EXECUTOR, EXECUTE),
    role_permission(DEPLOYER, EXECUTE),
]
# Example 1: _project_viewer with _all_project_level_resources, bound in a/o/p.
EXAMPLE_1 = grant(ALICE, VIEWER, "a/o/p", EXACT, ANY, ANY, "a/o/p/b1")
# Example 2: group devs (defined in a) bound in a/o/p to _pipeline_executor.
EXAMPLE_2 = [membership(ALICE, DEVS), grant(DEVS, EXECUTOR, "a/o/p", EXACT, ANY, ANY, "a/o/p/b2")]
# Examples 3 and 4: a resource group of a/o selecting PIPELINE deploy, with and without children.
EXAMPLE_3 = grant(BOB, DEPLOYER, "a/o", TREE, "PIPELINE", "deploy", "a/o/b3")
EXAMPLE_4 = grant(BOB, DEPLOYER, "a/o", EXACT, "PIPELINE", "deploy", "a/o/b4")


def pipeline(subject: str, scope: str, permission: str, identifier: str = "x") -> CheckRequest:
    return CheckRequest(subject, scope, "PIPELINE", identifier, permission)


def allowed(index: PolicyIndex, req: CheckRequest) -> bool:
    """The index's decision, after checking that Casbin and explain agree with it."""
    decision = index.check(req)
    assert plain_enforcer(index.lines()).enforce(*casbin_request(req)) is decision
    assert bool(index.explain(req)) is decision
    return decision


def test_example_1_role_grants_its_permissions_in_its_scope_only() -> None:
    index = PolicyIndex([*ROLES, EXAMPLE_1])
    assert allowed(index, pipeline(ALICE, "a/o/p", VIEW))
    assert not allowed(index, pipeline(ALICE, "a/o/p", EXECUTE))
    assert not allowed(index, pipeline(ALICE, "a/o/q", VIEW))
    assert not allowed(index, pipeline(BOB, "a/o/p", VIEW))
    assert index.explain(pipeline(ALICE, "a/o/p", VIEW)) == [
        Grant("a/o/p/b1", ALICE, VIEWER, "a/o/p", EXACT, ANY, ANY)
    ]


def test_example_2_group_binding_grants_members_and_names_the_group() -> None:
    index = PolicyIndex([*ROLES, *EXAMPLE_2])
    assert allowed(index, pipeline(ALICE, "a/o/p", EXECUTE))
    assert not allowed(index, pipeline(ALICE, "a/o/q", EXECUTE))
    assert not allowed(index, CheckRequest(ALICE, "a", "PROJECT", "p", "core_project_view"))
    assert not allowed(index, pipeline(BOB, "a/o/p", EXECUTE))
    assert index.explain(pipeline(ALICE, "a/o/p", EXECUTE)) == [
        Grant("a/o/p/b2", DEVS, EXECUTOR, "a/o/p", EXACT, ANY, ANY)
    ]
    assert index.permissions_of(ALICE, "a/o/p") == {VIEW, EXECUTE}
    assert index.permissions_of(ALICE, "a/o/q") == set()
    assert index.permissions_of(ALICE, "a") == set()


def test_example_3_filter_including_child_scopes() -> None:
    index = PolicyIndex([*ROLES, EXAMPLE_3])
    assert allowed(index, pipeline(BOB, "a/o/p", EXECUTE, "deploy"))
    assert allowed(index, pipeline(BOB, "a/o", EXECUTE, "deploy"))
    assert not allowed(index, pipeline(BOB, "a/o/p", EXECUTE, "build"))
    # No identifier asks about every pipeline, which a filter naming deploy does not grant.
    assert not allowed(index, pipeline(BOB, "a/o/p", EXECUTE, ""))
    assert not allowed(index, CheckRequest(BOB, "a/o/p", "SECRET", "deploy", EXECUTE))
    assert not allowed(index, pipeline(BOB, "a", EXECUTE, "deploy"))


def test_example_4_filter_excluding_child_scopes() -> None:
    index = PolicyIndex([*ROLES, EXAMPLE_4])
    assert not allowed(index, pipeline(BOB, "a/o/p", EXECUTE, "deploy"))
    assert allowed(index, pipeline(BOB, "a/o", EXECUTE, "deploy"))


def test_example_5_disabling_the_binding_denies_at_once() -> None:
    index = PolicyIndex([*ROLES, EXAMPLE_1])
    index.remove(EXAMPLE_1)
    assert not allowed(index, pipeline(ALICE, "a/o/p", VIEW))


def test_example_5_leaving_the_group_revokes_its_grants() -> None:
    index = PolicyIndex([*ROLES, *EXAMPLE_2])
    index.remove(membership(ALICE, DEVS))
    assert not allowed(index, pipeline(ALICE, "a/o/p", EXECUTE))
    assert index.groups_of(ALICE) == set()
    assert allowed(index, pipeline(DEVS, "a/o/p", EXECUTE))  # the group keeps its binding


def test_a_grant_survives_the_removal_of_another_that_gave_the_same() -> None:
    index = PolicyIndex([*ROLES, EXAMPLE_1, *EXAMPLE_2])
    index.remove(EXAMPLE_1)
    assert allowed(index, pipeline(ALICE, "a/o/p", VIEW))
    assert [g.subject for g in index.explain(pipeline(ALICE, "a/o/p", VIEW))] == [DEVS]


def test_tree_scope_does_not_cover_a_sibling_sharing_a_prefix() -> None:
    index = PolicyIndex([*ROLES, grant(ALICE, VIEWER, "a/o", TREE, ANY, ANY, "a/o/b")])
    assert allowed(index, pipeline(ALICE, "a/o/p", VIEW))
    assert not allowed(index, pipeline(ALICE, "a/op", VIEW))


def test_explain_lists_every_granting_line_sorted() -> None:
    index = PolicyIndex(
        [
            *ROLES,
            membership(ALICE, DEVS),
            grant(DEVS, EXECUTOR, "a", TREE, "PIPELINE", ANY, "a/b9"),
            grant(ALICE, VIEWER, "a/o/p", EXACT, ANY, ANY, "a/o/p/b1"),
            grant(ALICE, EXECUTOR, "a/o/p", EXACT, ANY, "other", "a/o/p/b0"),
        ]
    )
    assert index.explain(pipeline(ALICE, "a/o/p", VIEW)) == [
        Grant("a/b9", DEVS, EXECUTOR, "a", TREE, "PIPELINE", ANY),
        Grant("a/o/p/b1", ALICE, VIEWER, "a/o/p", EXACT, ANY, ANY),
    ]
    assert index.explain(pipeline(ALICE, "b", VIEW)) == []


def test_add_is_idempotent_and_removing_a_missing_line_is_a_no_op() -> None:
    index = PolicyIndex()
    index.add(EXAMPLE_1)
    index.add(EXAMPLE_1)
    assert len(index) == 1
    index.remove(EXAMPLE_3)
    index.remove(membership(BOB, DEVS))
    assert index.lines() == {EXAMPLE_1}
    index.remove(EXAMPLE_1)
    assert len(index) == 0
    index.add(EXAMPLE_1)  # the emptied index entries come back cleanly
    index.add(role_permission(VIEWER, VIEW))
    assert index.check(pipeline(ALICE, "a/o/p", VIEW))


def test_apply_removes_before_adding() -> None:
    index = PolicyIndex([*ROLES, EXAMPLE_1])
    index.apply(added=[EXAMPLE_1, EXAMPLE_3], removed=[EXAMPLE_1, role_permission(VIEWER, VIEW)])
    assert index.lines() == {*ROLES, EXAMPLE_1, EXAMPLE_3} - {role_permission(VIEWER, VIEW)}
    assert not index.check(pipeline(ALICE, "a/o/p", VIEW))
    assert index.check(pipeline(BOB, "a/o/p", EXECUTE, "deploy"))


def test_lines_returns_a_copy() -> None:
    index = PolicyIndex([EXAMPLE_1])
    index.lines().clear()
    assert len(index) == 1


@pytest.mark.parametrize(
    "line",
    [
        PolicyLine("p", ("user:a/alice", VIEWER)),
        PolicyLine("g", (ALICE, DEVS, "a")),
        PolicyLine("g3", (ALICE, DEVS)),
    ],
)
def test_lines_outside_the_model_are_rejected(line: PolicyLine) -> None:
    with pytest.raises(ValueError, match="not a policy line"):
        PolicyIndex().add(line)

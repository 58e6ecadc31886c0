"""Rules of the SCIM adapter that must hold for all inputs (no services): derived identifiers,
the store lookup a filter is narrowed to, filter evaluation against a plain-Python oracle, and
Entra's member removal rewritten."""

from __future__ import annotations

import re
from typing import Any

import scim2_models as scim
from hypothesis import given
from hypothesis import strategies as st

from services.authz.domain.entities import Stored, User, UserGroup
from services.scim import mapping, patching
from services.scim.identifiers import identifier_for
from services.scim.resources import GROUP, USER, _narrowing

AUTHZ_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
BASE = "http://127.0.0.1/scim/v2/accounts/a"


@given(st.text(min_size=1, max_size=400))
def test_derived_identifiers_are_valid_stable_and_case_blind(name: str) -> None:
    derived = identifier_for(name)
    assert AUTHZ_IDENTIFIER.fullmatch(derived)
    assert not derived.startswith("_")  # reserved for managed entities
    assert identifier_for(name) == derived
    other = name.swapcase()
    kept = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,127}")
    both_derived = not kept.fullmatch(name) and not kept.fullmatch(other)
    if both_derived and name.casefold() == other.casefold():
        assert identifier_for(other) == derived


def test_identifier_shaped_names_are_kept() -> None:
    assert identifier_for("alice") == "alice"
    assert identifier_for("alice@example.com").startswith("alice_example_com-")
    assert identifier_for("_x").startswith("x-")  # never a managed-looking identifier
    assert identifier_for("9lives").startswith("scim-9lives-")


# Users of a small alphabet, so that filters often match.
TEXT = st.text(alphabet="abAB@.", min_size=0, max_size=4)
USERS = st.builds(
    lambda n, d, e, active: User(
        "a",
        identifier_for(n or "x"),
        "",
        d,
        "ACTIVE" if active else "DISABLED",
        user_name=n or "x",
        external_id=e,
    ),
    TEXT,
    TEXT,
    TEXT,
    st.booleans(),
)
ATTRIBUTES = {"userName": "user_name", "displayName": "display_name", "externalId": "external_id"}


def _value(user: User, attribute: str) -> str | None:
    resource = mapping.user_resource(Stored(user, 1), BASE)
    got = getattr(resource, ATTRIBUTES[attribute])
    return got or None


def _oracle(node: tuple[Any, ...], user: User) -> bool:
    """RFC 7644 3.4.2.2 by hand: userName and displayName ignore case, externalId does not."""
    kind = node[0]
    if kind in ("and", "or"):
        left, right = _oracle(node[1], user), _oracle(node[2], user)
        return (left and right) if kind == "and" else (left or right)
    attribute = node[1]
    actual = _value(user, attribute)
    if kind == "pr":
        return actual is not None
    if actual is None:
        return False
    wanted: str = node[2]
    if attribute != "externalId":
        actual, wanted = actual.casefold(), wanted.casefold()
    return {
        "eq": actual == wanted,
        "co": wanted in actual,
        "sw": actual.startswith(wanted),
    }[kind]


def _text(node: tuple[Any, ...]) -> str:
    if node[0] in ("and", "or"):
        return f"({_text(node[1])} {node[0]} {_text(node[2])})"
    if node[0] == "pr":
        return f"{node[1]} pr"
    return f"{node[1]} {node[0]} {scim.ScimFilter.quote(node[2])}"


LEAVES = st.one_of(
    st.tuples(st.sampled_from(["eq", "co", "sw"]), st.sampled_from(list(ATTRIBUTES)), TEXT),
    st.tuples(st.just("pr"), st.sampled_from(list(ATTRIBUTES))),
)
FILTERS = st.recursive(
    LEAVES,
    lambda inner: st.tuples(st.sampled_from(["and", "or"]), inner, inner),
    max_leaves=5,
)


@given(FILTERS, st.lists(USERS, max_size=6))
def test_filters_match_the_oracle_and_narrow_soundly(
    node: tuple[Any, ...], users: list[User]
) -> None:
    scim_filter = scim.ScimFilter[mapping.USER_MODEL](_text(node))
    narrowed = _narrowing(scim_filter.ast, USER)
    for user in users:
        resource = mapping.user_resource(Stored(user, 1), BASE)
        matched = scim_filter.match(resource)
        assert matched == _oracle(node, user), (_text(node), user)
        if matched and narrowed is not None:
            # the store lookup (lower(field) = lower(value)) finds every match
            field, value = narrowed
            stored = {"user_name": user.user_name, "external_id": user.external_id}[field]
            assert (stored or "").lower() == value.lower()


@given(
    st.sets(st.sampled_from(["u1", "u2", "u3", "u4", "u5"]), min_size=1),
    st.lists(st.sampled_from(["u1", "u2", "u3", "u4", "u5"]), min_size=1, max_size=5),
    st.sampled_from(["Remove", "remove", "REMOVE"]),
)
def test_entra_member_removal_removes_exactly_those(
    members: set[str], removed: list[str], op: str
) -> None:
    group = UserGroup("a", "g", "G", tuple(sorted(members)))
    resource = mapping.group_resource(Stored(group, 1), BASE)
    document = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": op, "path": "members", "value": [{"value": r} for r in removed]}],
    }
    patch = GROUP.patch_op.model_validate(
        patching.normalized(document), scim_ctx=scim.Context.RESOURCE_PATCH_REQUEST
    )
    patch.patch(resource)
    after = {m.value for m in resource.members or []}
    assert after == members - set(removed)


def test_if_match_headers() -> None:
    assert mapping.etag_from_header(None) == ""
    assert mapping.etag_from_header("*") == ""
    assert mapping.etag_from_header('W/"12"') == "12"
    assert mapping.etag_from_header('"12"') == "12"
    assert mapping.etag_from_header('W/""') == "-"


MEMBER_IDS = st.sampled_from(["u1", "u2", "u3", 'q"uote', "back\\slash"])
MEMBER_OPERATIONS = st.lists(
    st.one_of(
        st.builds(
            lambda i, op: {"op": op, "path": f"members[value eq {scim.ScimFilter.quote(i)}]"},
            MEMBER_IDS,
            st.sampled_from(["remove", "Remove"]),
        ),
        st.builds(
            lambda ids: {"op": "add", "path": "members", "value": [{"value": i} for i in ids]},
            st.lists(MEMBER_IDS, min_size=1, max_size=3),
        ),
        st.builds(lambda name: {"op": "replace", "path": "displayName", "value": name}, MEMBER_IDS),
    ),
    min_size=1,
    max_size=8,
)


def _patch(operations: list[Any]) -> Any:
    return scim.PatchOp[scim.Group].model_validate(
        {"schemas": [scim.PatchOp.__schema__], "Operations": operations},
        scim_ctx=scim.Context.RESOURCE_PATCH_REQUEST,
    )


@given(st.lists(MEMBER_IDS, unique=True, max_size=4), MEMBER_OPERATIONS)
def test_member_removals_as_set_differences_give_what_the_library_gives(
    start: list[str], operations: list[dict[str, Any]]
) -> None:
    def group() -> scim.Group:
        return scim.Group(
            display_name="g", members=[scim.GroupMember.model_validate({"value": i}) for i in start]
        )

    by_library = group()
    _patch(operations).patch(by_library)
    by_runs = group()
    for run in patching.runs(operations):
        if isinstance(run, frozenset):
            by_runs.members = [m for m in by_runs.members or [] if m.value not in run]
        else:
            _patch(run).patch(by_runs)
    assert [m.value for m in by_runs.members or []] == [m.value for m in by_library.members or []]
    assert by_runs.display_name == by_library.display_name

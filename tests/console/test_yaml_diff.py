"""The side-by-side YAML diff of an event's states."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from services.console.yaml_diff import as_yaml, side_by_side

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
states = st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=5)


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(states, states)
def test_each_side_shows_its_whole_state_in_order(
    old: dict[str, object], new: dict[str, object]
) -> None:
    rows = side_by_side(json.dumps(old), json.dumps(new))
    assert [r.left for r in rows if r.left_no] == as_yaml(json.dumps(old))
    assert [r.right for r in rows if r.right_no] == as_yaml(json.dumps(new))
    assert all(r.left == r.right for r in rows if r.kind == "same")
    assert all(r.left != r.right for r in rows if r.kind == "changed")


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(states)
def test_an_unchanged_state_has_no_highlighted_line(state: dict[str, object]) -> None:
    assert all(r.kind == "same" for r in side_by_side(json.dumps(state), json.dumps(state)))


def test_an_added_permission_is_the_only_change() -> None:
    old = {"name": "deployer", "permissions": ["a"]}
    new = {"name": "deployer", "permissions": ["a", "b"]}
    rows = side_by_side(json.dumps(old), json.dumps(new))
    assert [(r.kind, r.right) for r in rows if r.kind != "same"] == [("added", "- b")]


def test_a_changed_value_pairs_old_and_new_lines() -> None:
    rows = side_by_side('{"disabled": false}', '{"disabled": true}')
    assert [(r.kind, r.left, r.right) for r in rows] == [
        ("changed", "disabled: false", "disabled: true")
    ]


def test_create_and_delete_have_one_side_only() -> None:
    assert {r.kind for r in side_by_side("", '{"a": 1}')} == {"added"}
    assert {r.kind for r in side_by_side('{"a": 1}', "")} == {"removed"}


def test_masked_values_are_marked() -> None:
    rows = side_by_side('{"token": "***", "name": "x"}', '{"token": "***", "name": "y"}')
    assert [r.masked for r in rows] == [False, True]  # name, then token (keys sorted)


def test_a_long_value_stays_on_one_line() -> None:
    assert as_yaml(json.dumps({"k": "word " * 100})) == [f"k: '{'word ' * 99}word '"]

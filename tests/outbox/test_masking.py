"""Secrets never reach an event: masked at any depth, in states and labels."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from audit.v1 import event_pb2 as ev
from libs.events import codec
from libs.outbox.masking import MASK, SECRET_KEY, mask_secrets

SECRET = "s3cr3t-value-0xDEADBEEF"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=12,
)


def secret_leaves(value: Any, under_secret_key: bool = False) -> list[Any]:
    """Values that sit under a secret-named key somewhere above them."""
    if isinstance(value, dict):
        return [
            leaf
            for k, v in value.items()
            for leaf in secret_leaves(v, under_secret_key or bool(SECRET_KEY.search(k)))
        ]
    if isinstance(value, list):
        return [leaf for v in value for leaf in secret_leaves(v, under_secret_key)]
    return [value] if under_secret_key else []


@given(json_values)
def test_no_value_under_a_secret_key_survives(value: Any) -> None:
    assert all(leaf == MASK for leaf in secret_leaves(mask_secrets(value)))


@given(json_values)
def test_nothing_else_changes(value: Any) -> None:
    if not any(SECRET_KEY.search(k) for k in _all_keys(value)):
        assert mask_secrets(value) == value


def _all_keys(value: Any) -> list[str]:
    """Every dictionary key at any depth."""
    if isinstance(value, dict):
        return [*value.keys(), *(k for v in value.values() for k in _all_keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in _all_keys(v)]
    return []


def test_secrets_are_masked_in_the_serialized_event() -> None:
    event = codec.new_event(
        module="authz",
        scope="a/o",
        principal=ev.Principal(identifier="admin"),
        action=ev.ACTION_CREATE,
        resource_type="API_KEY",
        resource_identifier="k1",
        old_state={"apiKey": SECRET},
        new_state={"name": "k1", "token": SECRET, "nested": [{"Password": SECRET}]},
        request=codec.Request(),
        labels={"client_secret": SECRET, "plain": "ok"},
    )
    raw = event.SerializeToString()
    assert SECRET.encode() not in raw
    assert event.resource.labels["plain"] == "ok"
    assert '"name": "k1"' in event.new_state_json

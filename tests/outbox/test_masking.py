"""Secrets never reach an event: masked at any depth, in states and labels, under any common
spelling of a secret name, in URLs, DSNs and JSON held in strings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.v1 import event_pb2 as ev
from libs.events import codec
from libs.outbox.masking import MASK, mask_secrets
from tests.outbox.secret_names import PLAIN_NAMES, SECRET_NAMES

SECRET = "s3cr3t-value-0xDEADBEEF"

plain_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
plain_values = st.recursive(
    plain_leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(PLAIN_NAMES), children, max_size=3)
    ),
    max_leaves=12,
)


@st.composite
def hidden_secret(draw: st.DrawFn, marker: str) -> Any:
    """A secret placed as a real event might carry it."""
    name = draw(st.sampled_from(SECRET_NAMES))
    way = draw(st.sampled_from(["field", "nested", "json", "url", "dsn"]))
    if way == "field":
        return {name: marker}
    if way == "nested":
        return {name: {"value": marker, "list": [marker]}}
    if way == "json":  # a JSON document kept in a string field
        return json.dumps({"config": {name: marker}})
    if way == "url":
        return f"postgresql://svc:{marker}@db.internal:5432/app?sslmode=require"
    return f"host=db.internal user=svc password={marker} dbname=app"


@st.composite
def with_secrets(draw: st.DrawFn) -> tuple[Any, str]:
    """A plain structure with secrets hidden in it under a plain field name."""
    marker = f"{SECRET}-{draw(st.integers(0, 10**6))}"
    secrets = draw(st.lists(hidden_secret(marker), min_size=1, max_size=4))
    base = draw(st.dictionaries(st.sampled_from(PLAIN_NAMES), plain_values, max_size=4))
    holders = draw(st.lists(st.sampled_from(PLAIN_NAMES), min_size=len(secrets)))
    for holder, secret in zip(holders, secrets, strict=False):
        base[holder] = [base.get(holder), secret]
    return base, marker


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_every_real_world_secret_name_is_masked(name: str) -> None:
    assert mask_secrets({name: SECRET, "kept": "x"}) == {name: MASK, "kept": "x"}


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_plain_names_are_kept(name: str) -> None:
    assert mask_secrets({name: "value"}) == {name: "value"}


@settings(max_examples=300)
@given(with_secrets())
def test_no_secret_survives_anywhere(case: tuple[Any, str]) -> None:
    value, marker = case
    assert marker not in json.dumps(mask_secrets(value))


@settings(max_examples=300)
@given(plain_values)
def test_plain_fields_are_untouched(value: Any) -> None:
    assert mask_secrets(value) == value


def test_passwords_in_urls_dsns_and_bearer_strings() -> None:
    masked = mask_secrets(
        {
            "url": "postgresql://u:secret@h/db",
            "conninfo": "host=h password='with space' user=u",
            "header": "Bearer abcdefghijklmnop",
            "plain_url": "https://example.com:8443/path",
            "json": '{"a": 1, "X-Api-Key": "k"}',
        }
    )
    assert masked == {
        "url": f"postgresql://u:{MASK}@h/db",
        "conninfo": f"host=h password={MASK} user=u",
        "header": f"Bearer {MASK}",
        "plain_url": "https://example.com:8443/path",
        "json": json.dumps({"X-Api-Key": MASK, "a": 1}, sort_keys=True),
    }


def test_secrets_are_masked_in_the_serialized_event() -> None:
    event = codec.new_event(
        module="authz",
        scope="a/o",
        principal=ev.Principal(identifier="admin"),
        action=ev.ACTION_CREATE,
        resource_type="API_KEY",
        resource_identifier="k1",
        old_state={"apiKey": SECRET},
        new_state={
            "name": "k1",
            "token": SECRET,
            "nested": [{"Password": SECRET}],
            "db": f"postgresql://u:{SECRET}@h/db",
        },
        request=codec.Request(),
        labels={"client_secret": SECRET, "plain": "ok", "X-Api-Key": SECRET},
    )
    raw = event.SerializeToString()
    assert SECRET.encode() not in raw
    assert event.resource.labels["plain"] == "ok"
    assert '"name": "k1"' in event.new_state_json

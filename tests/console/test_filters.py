"""The trail's URL filter: read back as written, and translated to the API's EventFilter."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from services.console.filters import ACTIONS, PRESET_LABELS, FilterError, TrailFilter

value = st.text(
    st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters=","
    ),
    min_size=1,
    max_size=12,
)
values = st.lists(value, max_size=3, unique=True)
filters = st.builds(
    TrailFilter,
    scope=values,
    scope_only=values,
    principal=st.lists(
        st.from_regex(r"(USER:|SERVICE_ACCOUNT:|SYSTEM:)?[a-z][a-z0-9_]{0,8}", fullmatch=True),
        max_size=3,
        unique=True,
    ),
    action=st.lists(st.sampled_from(ACTIONS), max_size=3, unique=True),
    resource_type=values,
    resource_id=values,
    module=values,
    network=values,
    text=st.text(max_size=20).map(str.strip).filter(lambda t: "\x00" not in t),
    no_login=st.booleans(),
    no_system=st.booleans(),
    range=st.sampled_from(sorted(PRESET_LABELS)),
    start=st.just("2026-01-02T03:04"),
    end=st.just("2026-02-03T04:05"),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
)


def normal(f: TrailFilter) -> TrailFilter:
    """What a filter means: a custom range's times and zone only count with that range."""
    if f.range == "custom":
        return f
    return replace(f, start="", end="", tz="UTC")


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(filters)
def test_the_url_query_reads_back_as_the_same_filter(f: TrailFilter) -> None:
    query = urlencode(f.to_query())
    assert normal(TrailFilter.from_query(parse_qs(query))) == normal(f)


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(filters)
def test_a_saved_filter_reads_back_as_the_same_api_filter(f: TrailFilter) -> None:
    f = f.with_default_scope("a")
    sent = f.to_proto()
    assert TrailFilter.from_proto(sent).to_proto() == sent


def test_lists_split_on_commas_and_repeats_and_drop_blanks() -> None:
    f = TrailFilter.from_query(
        {"principal": ["alice, bob", "carol", " ", "alice"], "action": ["create"]}
    )
    assert f.principal == ["alice", "bob", "carol"]
    assert f.action == ["CREATE"]


def test_every_field_reaches_the_api_filter() -> None:
    f = TrailFilter.from_query(
        {
            "scope": ["a"],
            "scope_only": ["a/o"],
            "principal": ["alice,SERVICE_ACCOUNT:ci"],
            "action": ["DELETE"],
            "resource_type": ["ROLE"],
            "resource_id": ["r1"],
            "module": ["authz"],
            "network": ["10.0.0.0/8"],
            "text": ["x"],
            "no_login": ["1"],
            "no_system": ["1"],
            "range": ["30d"],
        }
    )
    assert f.to_proto() == q.EventFilter(
        scopes=[q.ScopeFilter(scope="a"), q.ScopeFilter(scope="a/o", exclude_child_scopes=True)],
        principals=[
            q.PrincipalFilter(identifier="alice"),
            q.PrincipalFilter(type=ev.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="ci"),
        ],
        actions=[ev.ACTION_DELETE],
        resource_types=["ROLE"],
        resource_identifiers=["r1"],
        modules=["authz"],
        client_networks=["10.0.0.0/8"],
        text="x",
        exclude_login_events=True,
        exclude_system_events=True,
        preset=q.TIME_PRESET_LAST_30_DAYS,
    )


def test_a_custom_range_is_read_in_the_given_zone() -> None:
    f = TrailFilter(
        range="custom", start="2026-07-01T09:30", end="2026-07-02T00:00", tz="Europe/Berlin"
    )
    sent = f.with_default_scope("a").to_proto()
    assert sent.start.ToDatetime(tzinfo=UTC) == datetime(2026, 7, 1, 7, 30, tzinfo=UTC)  # CEST
    assert sent.end.ToDatetime(tzinfo=UTC) == datetime(2026, 7, 1, 22, 0, tzinfo=UTC)
    assert not sent.preset


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"range": "custom", "start": "", "end": "2026-01-01T00:00"}, "start"),
        ({"range": "custom", "start": "yesterday", "end": "2026-01-01T00:00"}, "start"),
        (
            {
                "range": "custom",
                "start": "2026-01-01T00:00",
                "end": "2026-01-02T00:00",
                "tz": "Mars/Base",
            },
            "tz",
        ),
        (
            {
                "range": "custom",
                "start": "2026-01-01T00:00",
                "end": "2026-01-02T00:00",
                "tz": "../../etc/passwd",
            },
            "tz",
        ),
        (
            {
                "range": "custom",
                "start": "2026-01-01T00:00",
                "end": "2026-01-02T00:00",
                "tz": "x" * 500,
            },
            "tz",
        ),
        ({"action": ["EXPLODE"]}, "action"),
        ({"principal": ["ROBOT:r2"]}, "principal"),
    ],
)
def test_input_the_form_cannot_mean_names_its_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(FilterError) as info:
        TrailFilter(**fields).to_proto()  # type: ignore[arg-type]
    assert info.value.field == field


def test_an_unknown_range_falls_back_to_the_default() -> None:
    assert TrailFilter.from_query({"range": ["forever"]}).range == "7d"

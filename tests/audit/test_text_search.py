"""Free text without a database: words, the day windows a search walks, and the SQL it
becomes. What the SQL finds is checked against tests/audit/text_oracle.py on a real database
(test_text_search_store.py, and the filter oracle in test_query_api.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.v1 import query_pb2 as q
from services.audit.domain.errors import InvalidArgument
from services.audit.domain.query import EventQuery, ScopeSelector
from services.audit.domain.text_search import (
    DAY,
    EPOCH,
    day_number,
    search_words,
    windows,
    words,
)
from services.audit.grpc_api.converters import query_of
from services.audit.store.event_queries import where
from tests.audit.text_oracle import text_matches

NOW = datetime(2026, 11, 29, 16, 30, tzinfo=UTC)


def test_words_are_ascii_letters_and_digits_lower_cased() -> None:
    assert words("Pipeline-Falcon_240") == ["pipeline", "falcon", "240"]
    assert words("maria.smith12@ACME.example.com") == [
        "maria", "smith12", "acme", "example", "com",
    ]  # fmt: skip
    # Only ASCII letters fold; other characters separate words, as in the store's SQL.
    assert words("caféÉ-İx") == ["caf", "x"]
    assert words(" --- ") == []


@pytest.mark.parametrize("text", ["-", "  ", "@.", "é"])
def test_a_text_without_words_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        search_words(text)
    assert info.value.field == "filter.text"
    with pytest.raises(InvalidArgument):
        query_of(q.EventFilter(scopes=[q.ScopeFilter(scope="a")], text=text), NOW, 365)


EXAMPLES = [
    ("falcon", "pipeline-falcon-240", True),
    ("falcon-24", "Pipeline_Falcon_240", True),
    ("pipeline-falcon-240", "pipeline-falcon-240", True),
    ("FALC", "pipeline-falcon-240", True),
    ("alcon", "pipeline-falcon-240", False),  # words start at a separator
    ("falcon-24", "pipeline-falconer-240", False),  # a word before the last is whole
    ("pipeline-24", "pipeline-falcon-24", False),  # side by side
    ("falcon pipeline", "pipeline-falcon-1", False),  # in order
    ("smith", "maria.smith12@acme.example.com", True),
    ("acme.example", "maria.smith12@acme.example.com", True),
    # The README's table.
    ("falcon", "Falcons_prod", True),
    ("falcon", "peregrinefalcon-1", False),
    ("Pipeline_Falcon.24", "my-pipeline-falcon-2401", True),
    ("pipeline falcon 24", "pipeline-falcon-24", True),
    ("pipeline-falcon-24", "pipeline-x-falcon-24", False),
    ("pipeline-falcon-24", "falcon-pipeline-24", False),
    ("smith", "blacksmith@acme.example.com", False),
    ("acme.example", "maria@notacme.example.com", False),
    ("deploy-pr", "deploy-preview", True),
    ("deploy-pr", "deploy", False),
]


@pytest.mark.parametrize(("text", "value", "expected"), EXAMPLES)
def test_examples_of_the_documented_meaning(text: str, value: str, expected: bool) -> None:
    assert text_matches(text, value, "") is expected
    assert text_matches(text, "", value) is expected


def test_a_week_is_cut_at_utc_midnights_newest_day_first() -> None:
    found = windows(NOW - timedelta(days=7), NOW)
    assert [(w.last_day - w.first_day + 1) for w in found] == [1, 1, 2, 4]
    assert found[0].end == NOW
    assert found[0].start == datetime(2026, 11, 29, tzinfo=UTC)
    assert found[-1].start == NOW - timedelta(days=7)
    assert day_number(found[0].start) == found[0].last_day


moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(moments, st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)))
def test_windows_cover_the_range_once_newest_first_within_their_days(
    start: datetime, span: timedelta
) -> None:
    end = start + span
    found = windows(start, end)
    assert found[0].end == end
    assert found[-1].start == start
    for newer, older in itertools.pairwise(found):
        assert older.end == newer.start  # contiguous, nothing twice
        assert older.last_day == newer.first_day - 1
    for w in found:
        assert w.start < w.end
        assert EPOCH + w.first_day * DAY <= w.start
        assert w.end <= EPOCH + (w.last_day + 1) * DAY
        assert day_number(w.start) == w.first_day
        assert day_number(w.end - timedelta(microseconds=1)) == w.last_day
    assert len(found) <= 2 + span.days.bit_length()  # a year is a dozen index lookups


def test_text_becomes_a_window_bounded_tsquery_and_a_whole_word_recheck() -> None:
    query = EventQuery(
        NOW - timedelta(days=7),
        NOW,
        (ScopeSelector("acme"), ScopeSelector("acme_corp/o")),
        text="Pipeline-Falcon-24",
    )
    newest = windows(query.start, query.end)[0]
    clause, params = where(query, None, newest)
    day = newest.last_day
    assert params[-4:] == [
        newest.start,
        newest.end,
        f"('acme/{day}/pipeline' & 'acme/{day}/falcon' & 'acme/{day}/24':*)"
        f" | ('acme_corp/{day}/pipeline' & 'acme_corp/{day}/falcon' & 'acme_corp/{day}/24':*)",
        "% pipeline falcon 24%",
    ]
    assert clause.endswith(
        "audit_search_terms(account, occurred_at, resource_id, principal_email) @@ $8::tsquery"
        " AND (' ' || audit_words(resource_id) || ' ' LIKE $9"
        " OR ' ' || audit_words(principal_email) || ' ' LIKE $9)"
    )
    with pytest.raises(ValueError, match="day window"):
        where(query)


def test_a_long_word_is_searched_by_its_indexed_beginning_and_rechecked_whole() -> None:
    long = "x" * 70
    query = EventQuery(NOW - timedelta(days=1), NOW, (ScopeSelector("a"),), text=f"{long} y")
    newest = windows(query.start, query.end)[0]
    _, params = where(query, None, newest)
    day = newest.last_day
    assert params[-2] == f"('a/{day}/{'x' * 64}':* & 'a/{day}/y':*)"
    assert params[-1] == f"% {long} y%"

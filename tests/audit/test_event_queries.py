"""The SQL of an EventQuery, without a database: clauses and numbered parameters. What the SQL
means is checked against the real database by the oracle test in test_query_api.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.audit.domain.query import EventQuery, ScopeSelector
from services.audit.store.event_queries import where

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 8, tzinfo=UTC)


def query(*scopes: ScopeSelector, **fields: object) -> EventQuery:
    return EventQuery(START, END, scopes or (ScopeSelector("a"),), **fields)  # type: ignore[arg-type]


def test_range_and_one_account_with_children() -> None:
    clause, params = where(query())
    assert clause == "occurred_at >= $1 AND occurred_at < $2 AND ((account = $3))"
    assert params == [START, END, "a"]


def test_a_scope_without_its_children_pins_the_next_level_empty() -> None:
    clause, params = where(query(ScopeSelector("a/o", False), ScopeSelector("b/p/q", False)))
    assert clause.endswith(
        "((account = $3 AND organization = $4 AND project = '')"
        " OR (account = $5 AND organization = $6 AND project = $7))"
    )
    assert params[2:] == ["a", "o", "b", "p", "q"]


def test_principals_with_and_without_a_type() -> None:
    clause, params = where(query(principals=(("USER", "alice"), ("", "svc"))))
    assert "((principal_id = $4 AND principal_type = $5) OR principal_id = $6)" in clause
    assert params[3:] == ["alice", "USER", "svc"]


def test_value_lists_exclusions_and_networks() -> None:
    clause, params = where(
        query(
            actions=("CREATE", "DELETE"),
            modules=("authz",),
            exclude_login=True,
            exclude_system=True,
            networks=("10.0.0.0/8",),
        )
    )
    assert "action = ANY($4::text[])" in clause
    assert "module = ANY($5::text[])" in clause
    assert "action <> 'LOGIN'" in clause
    assert "principal_type <> 'SYSTEM'" in clause
    assert "safe_inet(client_ip) <<= ANY($6::cidr[])" in clause
    assert params[3:] == [["CREATE", "DELETE"], ["authz"], ["10.0.0.0/8"]]


def test_a_keyset_position_continues_after_it() -> None:
    event_id = str(uuid.UUID(int=7))
    clause, params = where(query(), (START, event_id))
    assert clause.endswith("(occurred_at, event_id) < ($4, $5::uuid)")
    assert params[3:] == [START, event_id]

"""The SQL of an EventQuery: a WHERE clause with numbered parameters, continuing a keyset page
(newest first) after a (time, event id) key."""

from __future__ import annotations

from datetime import datetime

from services.audit.domain.query import EventQuery, ScopeSelector


class _Sql:
    """Collects a WHERE clause and its numbered parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[object] = []

    def p(self, value: object) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _scope_clause(sql: _Sql, s: ScopeSelector) -> str:
    names = ("account", "organization", "project")
    parts = [f"{names[i]} = {sql.p(v)}" for i, v in enumerate(s.parts)]
    if not s.include_children and len(s.parts) < 3:
        parts.append(f"{names[len(s.parts)]} = ''")
    return "(" + " AND ".join(parts) + ")"


def where(q: EventQuery, after: tuple[datetime, str] | None = None) -> tuple[str, list[object]]:
    """The WHERE clause (and parameters) of a query, continuing after a (time, event id) key."""
    sql = _Sql()
    sql.add(f"occurred_at >= {sql.p(q.start)} AND occurred_at < {sql.p(q.end)}")
    sql.add("(" + " OR ".join(_scope_clause(sql, s) for s in q.scopes) + ")")
    if q.principals:
        ors = []
        for kind, identifier in q.principals:
            clause = f"principal_id = {sql.p(identifier)}"
            ors.append(f"({clause} AND principal_type = {sql.p(kind)})" if kind else clause)
        sql.add("(" + " OR ".join(ors) + ")")
    for column, values in (
        ("action", q.actions),
        ("resource_type", q.resource_types),
        ("resource_id", q.resource_ids),
        ("module", q.modules),
    ):
        if values:
            sql.add(f"{column} = ANY({sql.p(list(values))}::text[])")
    if q.exclude_login:
        sql.add("action <> 'LOGIN'")
    if q.exclude_system:
        sql.add("principal_type <> 'SYSTEM'")
    if q.networks:
        sql.add(f"safe_inet(client_ip) <<= ANY({sql.p(list(q.networks))}::cidr[])")
    if q.text:
        pattern = sql.p(_like(q.text))
        sql.add(f"(resource_id ILIKE {pattern} OR principal_email ILIKE {pattern})")
    if after is not None:
        sql.add(f"(occurred_at, event_id) < ({sql.p(after[0])}, {sql.p(after[1])}::uuid)")
    return " AND ".join(sql.clauses), sql.params

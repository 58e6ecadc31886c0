"""The SQL of an EventQuery: a WHERE clause with numbered parameters, continuing a keyset page
(newest first) after a (time, event id) key. Free text becomes, per day window, a tsquery over
the index terms of migration 0006 ("<account>/<UTC day>/<word>") and a recheck of whole words
(services/audit/domain/text_search.py says what matches)."""

from __future__ import annotations

from datetime import datetime

from services.audit.domain.query import EventQuery, ScopeSelector
from services.audit.domain.text_search import INDEXED_WORD_CHARS, Window, search_words


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


SEARCH_TERMS = "audit_search_terms(account, occurred_at, resource_id, principal_email)"


def _words_pattern(words: list[str]) -> str:
    """LIKE over " " || audit_words(value) || " ": the words side by side from a word start,
    the last one possibly unfinished (words hold only [a-z0-9], nothing to escape)."""
    return "% " + " ".join(words) + "%"


def _tsquery(accounts: list[str], window: Window, words: list[str]) -> str:
    """Every word as an index term of each account and day of the window: an event matches
    when, for its own account and day, it holds all of them (the last one as a prefix)."""
    alternatives = []
    for account in accounts:
        for day in range(window.first_day, window.last_day + 1):
            terms = []
            for i, word in enumerate(words):
                indexed = word[:INDEXED_WORD_CHARS]
                prefix = i == len(words) - 1 or len(word) >= INDEXED_WORD_CHARS
                quoted = "'" + f"{account}/{day}/{indexed}".replace("'", "''") + "'"
                terms.append(quoted + (":*" if prefix else ""))
            alternatives.append("(" + " & ".join(terms) + ")")
    return " | ".join(alternatives)


def _scope_clause(sql: _Sql, s: ScopeSelector) -> str:
    names = ("account", "organization", "project")
    parts = [f"{names[i]} = {sql.p(v)}" for i, v in enumerate(s.parts)]
    if not s.include_children and len(s.parts) < 3:
        parts.append(f"{names[len(s.parts)]} = ''")
    return "(" + " AND ".join(parts) + ")"


def where(
    q: EventQuery, after: tuple[datetime, str] | None = None, window: Window | None = None
) -> tuple[str, list[object]]:
    """The WHERE clause (and parameters) of a query, continuing after a (time, event id) key;
    a query with text needs the day window it searches."""
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
        if window is None:
            raise ValueError("a text search is made one day window at a time")
        words = search_words(q.text)
        accounts = sorted({s.parts[0] for s in q.scopes})
        sql.add(f"occurred_at >= {sql.p(window.start)} AND occurred_at < {sql.p(window.end)}")
        sql.add(f"{SEARCH_TERMS} @@ {sql.p(_tsquery(accounts, window, words))}::tsquery")
        pattern = sql.p(_words_pattern(words))
        sql.add(
            f"(' ' || audit_words(resource_id) || ' ' LIKE {pattern}"
            f" OR ' ' || audit_words(principal_email) || ' ' LIKE {pattern})"
        )
    if after is not None:
        sql.add(f"(occurred_at, event_id) < ({sql.p(after[0])}, {sql.p(after[1])}::uuid)")
    return " AND ".join(sql.clauses), sql.params

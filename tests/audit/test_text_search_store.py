"""Free text against a real PostgreSQL, for all inputs: the store's page walk (day windows,
the index terms of migration 0006, the whole-word recheck) finds exactly what the plain-Python
oracle says (tests/audit/text_oracle.py), newest first, page after page; and the SQL's words
are Python's."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.audit.domain.query import EventQuery, ScopeSelector
from services.audit.domain.records import AuditRecord
from services.audit.domain.text_search import words
from services.audit.store import queries, repository
from tests.audit.helpers import KEYS, on_new_loop
from tests.audit.query_fixtures import NOW, record
from tests.audit.test_text_search import EXAMPLES
from tests.audit.text_oracle import text_matches

pytestmark = pytest.mark.integration

VOCABULARY = ["pipeline", "Falcon", "falconer", "deploy", "prod", "24", "240", "2", "x", "maria"]
SEPARATORS = ["-", "_", ".", "@", "/", " ", "É", "--"]
ACCOUNTS = ["acme", "acme_corp", "acmeXcorp"]  # look-alikes: a search stays in its account
DAYS = 40


def name(rng: random.Random) -> str:
    parts = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, 4))]
    out = parts[0]
    for part in parts[1:]:
        out += rng.choice(SEPARATORS) + part
    return out


def dataset() -> list[AuditRecord]:
    rng = random.Random(21)
    return [
        record(
            i,
            occurred_at=NOW - timedelta(minutes=rng.randrange(DAYS * 24 * 60)),
            account=rng.choice(ACCOUNTS),
            resource_id=name(rng),
            principal_email=rng.choice(["", name(rng) + "@" + name(rng) + ".example.com"]),
        )
        for i in range(600)
    ]


@pytest.fixture
async def stored(database_url: str) -> tuple[str, list[AuditRecord]]:
    records = dataset()
    conn = await asyncpg.connect(database_url)
    try:
        await repository.migrate_audit(conn)
        await repository.ensure_partitions(conn, NOW, behind=3, ahead=1)
        await repository.write_batch(conn, records, [], KEYS)
    finally:
        await conn.close()
    return database_url, records


texts = st.one_of(
    st.lists(
        st.one_of(
            st.sampled_from(VOCABULARY),
            st.sampled_from(VOCABULARY).map(lambda w: w[: max(1, len(w) // 2)]),  # unfinished
            st.sampled_from(["ACME", "corp", "example", "com", "alcon", "É", "zzz"]),
        ),
        min_size=1,
        max_size=3,
    ).flatmap(
        lambda ws: st.lists(st.sampled_from(SEPARATORS), min_size=len(ws), max_size=len(ws)).map(
            lambda seps: "".join(s + w for s, w in zip(seps, ws, strict=True))
        )
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12),
)


async def test_every_text_finds_what_the_oracle_finds(
    stored: tuple[str, list[AuditRecord]],
) -> None:
    database_url, records = stored

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        text=texts,
        account=st.sampled_from(ACCOUNTS),
        days=st.tuples(st.integers(0, DAYS + 2), st.integers(0, DAYS + 2)).map(sorted),
        page=st.integers(1, 9),
    )
    def one(text: str, account: str, days: list[int], page: int) -> None:
        if not words(text):
            return  # refused as INVALID_ARGUMENT (test_text_search.py)
        start, end = NOW - timedelta(days=days[1], hours=5), NOW - timedelta(days=days[0])
        query = EventQuery(start, end, (ScopeSelector(account),), text=text)
        expected = [
            r.event_id
            for r in sorted(records, key=lambda r: (r.occurred_at, r.event_id), reverse=True)
            if r.account == account
            and start <= r.occurred_at < end
            and text_matches(text, r.resource_id, r.principal_email)
        ]

        async def every_page(conn: asyncpg.Connection) -> list[Any]:
            got: list[Any] = []
            after = None
            while True:
                found = await queries.list_events(conn, query, after, page)
                assert len(found) <= page
                got += [r.event_id for r in found]
                if len(found) < page:
                    return got
                after = (found[-1].occurred_at, str(found[-1].event_id))

        assert on_new_loop(database_url, every_page) == expected, text

    await asyncio.to_thread(one)
    hits = [r for r in records if r.account == "acme" and text_matches("falcon", r.resource_id, "")]
    assert len(hits) > 20  # the data is not so sparse that every search is empty


async def test_the_sql_words_are_the_python_words(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await repository.migrate_audit(conn)
    finally:
        await conn.close()

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40))
    def one(value: str) -> None:
        async def sql_words(conn: asyncpg.Connection) -> str:
            return str(await conn.fetchval("SELECT audit_words($1)", value))

        assert on_new_loop(database_url, sql_words) == " ".join(words(value))

    await asyncio.to_thread(one)


async def test_the_documented_examples_hold_in_the_store(database_url: str) -> None:
    values = sorted({value for _, value, _ in EXAMPLES})
    records = [record(i, resource_id=v, principal_email="") for i, v in enumerate(values)]
    records += [record(100 + i, resource_id="x", principal_email=v) for i, v in enumerate(values)]
    conn = await asyncpg.connect(database_url)
    try:
        await repository.migrate_audit(conn)
        await repository.ensure_partitions(conn, NOW, behind=1, ahead=1)
        await repository.write_batch(conn, records, [], KEYS)
        query = EventQuery(
            NOW - timedelta(days=30), NOW + timedelta(minutes=1), (ScopeSelector("a"),)
        )
        for text, value, expected in EXAMPLES:
            found = await queries.list_events(conn, replace(query, text=text), None, 1000)
            assert any(r.resource_id == value for r in found) is expected, (text, value)
            assert any(r.principal_email == value for r in found) is expected, (text, value)
    finally:
        await conn.close()

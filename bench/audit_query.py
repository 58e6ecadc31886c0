"""The audit query API on a large store: first and tenth page of typical filters through gRPC
ListEvents, beside the bare SQL of the same query in the same run.

A database of the benchmark's own (bench_<random>, dropped at the end unless --keep) is migrated
with the audit migrations and filled with --events generated rows (default 10,000,000) spread
over the last 60 days, by INSERT ... SELECT FROM generate_series in chunks (the indexes of the
migrations are dropped for the load and rebuilt from their own definitions afterwards, then
VACUUM ANALYZE). The rows are plausible, not chained: ~200 accounts, "acct000" holding 10% of
the events and the others a skewed share, organizations and projects, ~5,000 principals (users,
service accounts, API keys, system), 12 actions, 20 resource types, resource identifiers
"<type>-<word>-<number>", e-mails, client IPs, small JSON states; chain_seq is the series
number and the hashes are dummy 32-byte values (the chain is not what is measured).
--database-url reuses a filled database (generated only if audit_events is empty; never dropped).

An in-process authz server and an in-process audit query server (services.audit.query_server)
share that database; the client calls ListEvents as the administrator of acct000 (bootstrap), so
every request includes the authz check the servicer makes. Filters (all in acct000, the last
7 days, page size 50; the values are picked from the data):

    a   the whole account
    b1  + the busiest user                  b2  + the median user (by events in the week)
    c1  + the most frequent resource type   c2  + the rarest resource type with ten pages
    d1  + text: a common word of resource identifiers ("falcon", ~2% of them)
    d2  + text: one resource identifier but its last digit (a handful of matches)
    d3  + text that matches nothing

For each, the first page, and the tenth page (--page; its token is reached by following
next_page_token nine times, untimed, then that same tenth request is timed again and again; a
filter with fewer pages says so): --samples timed requests after --warm-up untimed ones,
alternating with the bare SQL of the same query, i.e. the statement
services.audit.store.queries.list_events sends (the WHERE of
services.audit.store.event_queries.where for the EventQuery the servicer's own
converters.query_of makes, ORDER BY occurred_at DESC, event_id DESC LIMIT page size + 1), sent
by asyncpg on a connection of its own: prepared and cached like the server's, so after five
executions PostgreSQL may switch both to the generic plan. For the tenth page the SQL starts at
the keyset position of the ninth page's last row; both pages are checked to hold the same
events.

All of it once per --plan-cache-modes entry: "auto" is the server as configured; another mode
(force_custom_plan by default) is set with ALTER DATABASE on the benchmark's database (reset at
the end), which the query server's new pool connections and the SQL connection take. Printed:
per mode, a table of SQL and gRPC p50/p95 with their ratios and the 20 ms target; every series
in detail (bench.report.latency_table); two per-request costs besides the SQL (a Health/Check
round trip to the query server, and the authz Explain the servicer sends); EXPLAIN (ANALYZE,
BUFFERS) of each first-page statement, as the custom plan and as the generic plan.
--setup-sql runs statements first (e.g. a CREATE INDEX to try).

    .venv/bin/python -m bench.audit_query                       # 10M events, then dropped
    .venv/bin/python -m bench.audit_query --events 1000000 --keep
    .venv/bin/python -m bench.audit_query --database-url postgresql://.../bench_xxx \
        --setup-sql "CREATE INDEX ON audit_events (account, resource_type, occurred_at DESC)"

Everything (servers, client, SQL connection) runs in one process and one event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import platform
import shutil
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from authz.v1 import authz_pb2 as apb
from authz.v1 import authz_pb2_grpc as apb_grpc
from bench.endpoints import endpoints, unique_name, with_database
from bench.report import Latency, latency_table, ratio
from services.audit.access_control import AUDIT_TYPE, AUDIT_VIEW
from services.audit.domain.query import EventQuery
from services.audit.grpc_api.converters import query_of
from services.audit.query_server import running_query_server
from services.audit.settings import AuditSettings
from services.audit.store import repository
from services.audit.store.event_queries import where
from services.audit.store.queries import SELECT_RECORD
from services.authz.bootstrap import bootstrap_admin
from services.authz.server import running_server
from services.authz.settings import AuthzSettings

ACCOUNT = "acct000"  # the big account: 10% of the events
ADMIN = "bench-admin"
ACCOUNTS = 200
DAYS = 60  # the generated events lie in the last DAYS days
TARGET_P95_S = 0.020
BYTES_PER_EVENT = 1100  # on disk with the indexes of the migrations, as measured (a bit more)
RETENTION_DAYS = AuditSettings().retention_days
PLAN_CACHE_MODES = ("auto", "force_custom_plan", "force_generic_plan")
STATEMENT_TIMEOUT_MS = 60_000
CALL_TIMEOUT_S = 60.0

WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "falcon", "heron", "otter", "badger",
    "lynx", "raven", "cobra", "panda", "koala", "bison", "gecko", "ibis", "jackal", "lemur",
    "marmot", "newt", "ocelot", "puffin", "quail", "stoat", "tapir", "urchin", "vole", "wombat",
]  # fmt: skip
FIRST_NAMES = [
    "maria", "james", "anna", "david", "laura", "peter", "sofia", "lucas", "emma", "noah", "mia",
    "liam", "olga", "ivan", "chen", "wei", "yuki", "kenji", "fatima", "omar", "aisha", "ali",
    "elena", "marco", "julia", "paul", "nina", "tom", "sara", "leo", "ines", "hugo", "clara",
    "felix", "rosa", "igor", "lena",
]  # fmt: skip
LAST_NAMES = [
    "smith", "garcia", "muller", "rossi", "kowalski", "tanaka", "silva", "novak", "jensen",
    "dubois", "ivanova", "kim", "nguyen", "khan", "cohen", "murphy", "schmidt", "lopez", "wang",
    "li", "sato", "berg", "costa", "horvat", "nagy", "popescu", "larsen", "weber", "moreau",
    "fischer", "bauer", "ricci", "santos", "olsen", "meyer", "wolf", "kaya", "yilmaz", "ali",
    "hansen", "lund",
]  # fmt: skip
# (resource type, module, weight): a few are frequent, most are rare.
RESOURCE_TYPES = [
    ("USER", "authz", 18), ("ROLE_BINDING", "authz", 14), ("PIPELINE", "pipelines", 12),
    ("ROLE", "authz", 9), ("SECRET", "secrets", 8), ("USER_GROUP", "authz", 7),
    ("CONNECTOR", "connectors", 6), ("SERVICE_ACCOUNT", "authz", 5), ("API_KEY", "authz", 4),
    ("PROJECT", "platform", 3), ("ENVIRONMENT", "platform", 3), ("SERVICE", "platform", 3),
    ("RESOURCE_GROUP", "authz", 2), ("TEMPLATE", "pipelines", 2),
    ("DASHBOARD", "dashboards", 1.5), ("FEATURE_FLAG", "flags", 1.2),
    ("ORGANIZATION", "platform", 0.8), ("DELEGATE", "platform", 0.7),
    ("POLICY", "governance", 0.5), ("AUDIT_EXPORT", "audit", 0.3),
]  # fmt: skip
ACTIONS = [
    ("UPDATE", 30), ("CREATE", 18), ("LOGIN", 20), ("DELETE", 8), ("ADD_MEMBER", 5),
    ("REMOVE_MEMBER", 3), ("ROLE_ASSIGNMENT_CREATE", 5), ("ROLE_ASSIGNMENT_DELETE", 2),
    ("ROLE_ASSIGNMENT_UPDATE", 1), ("ACCESS_DENIED", 5), ("REVOKE", 1.5), ("ROTATE", 1.5),
]  # fmt: skip
HAS_OLD = ("UPDATE", "DELETE", "ROLE_ASSIGNMENT_DELETE", "ROLE_ASSIGNMENT_UPDATE", "REMOVE_MEMBER",
           "REVOKE", "ROTATE")  # fmt: skip
HAS_NEW = ("UPDATE", "CREATE", "ROLE_ASSIGNMENT_CREATE", "ROLE_ASSIGNMENT_UPDATE", "ADD_MEMBER",
           "ROTATE")  # fmt: skip
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari",
    "terraform-provider/2.4.1 (+https://registry.terraform.io)",
    "grpc-python/1.66.0 grpc-c/43.0.0 (linux; chttp2)",
    "cli/3.12.0 (linux; amd64)",
]


def _array(values: list[str]) -> str:
    return "(ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "])"


def _weighted_index(random_column: str, weights: list[float]) -> str:
    """A CASE giving 1..len(weights) with those relative weights for a uniform [0, 1) column."""
    total, upto, whens = sum(weights), 0.0, []
    for i, w in enumerate(weights[:-1], start=1):
        upto += w / total
        whens.append(f"WHEN {random_column} < {upto:.6f} THEN {i}")
    return f"CASE {' '.join(whens)} ELSE {len(weights)} END"


# One chunk of generated rows: $1, $2 the series bounds, $3 the newest moment. Each subquery
# level computes what the next one needs; the innermost one draws the random numbers (a
# subquery with volatile functions is not pulled up, so they are drawn once per row).
GENERATE = f"""
INSERT INTO audit_events ({", ".join(repository.ALL_COLUMNS)})
SELECT gen_random_uuid(), occurred_at, account, organization, project, module, principal_type,
    principal_id, principal_email, action, resource_type, resource_id, resource_labels, client_ip,
    user_agent, request_id,
    CASE WHEN action IN ({", ".join(f"'{a}'" for a in HAS_OLD)}) THEN state END,
    CASE WHEN action IN ({", ".join(f"'{a}'" for a in HAS_NEW)})
        THEN state || jsonb_build_object('revision', i % 97 + 1) END,
    i, 1, i,
    decode(md5((i - 1)::text) || md5((1 - i)::text), 'hex'),
    decode(md5(i::text) || md5((-i)::text), 'hex'),
    'bench'
FROM (
    SELECT *,
        jsonb_build_object('identifier', resource_id, 'display_name', initcap(word) || ' ' || num,
            'labels', resource_labels, 'revision', i % 97,
            'description', 'generated by bench.audit_query for ' || account) AS state,
        CASE principal_type
            WHEN 'USER' THEN {_array(FIRST_NAMES)}[1 + k % {len(FIRST_NAMES)}] || '.'
                || {_array(LAST_NAMES)}[1 + (k / {len(FIRST_NAMES)}) % {len(LAST_NAMES)}]
                || k || '@' || account || '.example.com'
            WHEN 'SERVICE_ACCOUNT' THEN principal_id || '@' || account || '.iam.example.com'
            ELSE '' END AS principal_email
    FROM (
        SELECT *,
            CASE WHEN rk < 0.03 THEN 'SYSTEM' WHEN k % 10 = 9 THEN 'SERVICE_ACCOUNT'
                WHEN k % 50 = 25 THEN 'API_KEY' ELSE 'USER' END AS principal_type,
            CASE WHEN rk < 0.03 THEN 'system'
                WHEN k % 10 = 9 THEN 'sa-' || acct_n || '-' || k
                WHEN k % 50 = 25 THEN 'key-' || acct_n || '-' || k
                ELSE 'user-' || acct_n || '-' || k END AS principal_id,
            CASE WHEN ro < 0.3 THEN ''
                ELSE 'org' || floor(CASE WHEN acct_n = 0 THEN 20 ELSE 3 END * (ro - 0.3) / 0.7)
                END AS organization,
            {_array([t for t, _, _ in RESOURCE_TYPES])}[rt_n] AS resource_type,
            {_array([m for _, m, _ in RESOURCE_TYPES])}[rt_n] AS module,
            replace(lower({_array([t for t, _, _ in RESOURCE_TYPES])}[rt_n]), '_', '-') || '-'
                || word || '-' || num AS resource_id,
            {_array([a for a, _ in ACTIONS])}[act_n] AS action,
            'acct' || lpad(acct_n::text, 3, '0') AS account
        FROM (
            SELECT *,
                floor(CASE WHEN acct_n = 0 THEN 1000 ELSE 20 END * power(rp, 2))::int AS k,
                {_array(WORDS)}[1 + floor(rw * {len(WORDS)})::int] AS word,
                floor(rn * 5000)::int AS num
            FROM (
                SELECT i, rk, ro, rp, rw, rn,
                    CASE WHEN ra < 0.1 THEN 0
                        ELSE 1 + floor({ACCOUNTS - 1} * power((ra - 0.1) / 0.9, 2))::int
                        END AS acct_n,
                    {_weighted_index("rt", [w for _, _, w in RESOURCE_TYPES])} AS rt_n,
                    {_weighted_index("rx", [w for _, w in ACTIONS])} AS act_n,
                    $3::timestamptz - rtime * interval '{DAYS} days' AS occurred_at,
                    CASE WHEN ro < 0.3 OR rj < 0.4 THEN '' ELSE 'proj' || floor(5 * (rj - 0.4) / 0.6)
                        END AS project,
                    CASE WHEN rl < 0.6 THEN '{{}}'::jsonb ELSE jsonb_build_object(
                        'env', (ARRAY['prod', 'staging', 'dev'])[1 + floor((rl - 0.6) * 7.5)::int],
                        'team', 'team-' || floor(rl * 1000)::int % 17) END AS resource_labels,
                    '10.' || floor(ra * 256)::int || '.' || floor(rip * 256)::int || '.'
                        || floor(rp * 256)::int AS client_ip,
                    {_array(USER_AGENTS)}[1 + floor(rua * {len(USER_AGENTS)})::int] AS user_agent,
                    'req-' || md5(i::text) AS request_id
                FROM (
                    SELECT i, random() AS ra, random() AS rp, random() AS rk, random() AS ro,
                        random() AS rj, random() AS rt, random() AS rw, random() AS rn,
                        random() AS rx, random() AS rtime, random() AS rip, random() AS rua,
                        random() AS rl
                    FROM generate_series($1::bigint, $2::bigint) AS i
                ) r0
            ) r1
        ) r2
    ) r3
) r4
"""  # noqa: E501


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit_query",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="events to generate")
    parser.add_argument(
        "--chunk", type=int, default=1_000_000, help="generated rows per INSERT statement"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="use this (filled) database instead of a fresh one; generate only if it is empty;"
        " never dropped",
    )
    parser.add_argument("--keep", action="store_true", help="keep the fresh database at the end")
    parser.add_argument("--samples", type=int, default=50, help="timed requests per series")
    parser.add_argument("--warm-up", type=int, default=5, help="untimed requests per series")
    parser.add_argument("--page-size", type=int, default=50, help="ListEvents page_size")
    parser.add_argument(
        "--page", type=int, default=10, help="the later page measured besides the first"
    )
    parser.add_argument(
        "--filters", default="a,b1,b2,c1,c2,d1,d2,d3", help="which filters (comma-separated)"
    )
    parser.add_argument(
        "--phase-timeout", type=float, default=60.0, help="seconds per series (samples stop)"
    )
    parser.add_argument(
        "--load-connections", type=int, default=2, help="connections inserting at once"
    )
    parser.add_argument(
        "--plan-cache-modes",
        default="auto,force_custom_plan",
        help="measure with each plan_cache_mode set on the database (auto: as configured);"
        " comma-separated",
    )
    parser.add_argument(
        "--setup-sql",
        action="append",
        default=[],
        metavar="SQL",
        help="run this statement on the benchmark's database before measuring, e.g. a CREATE"
        " INDEX to try (then ANALYZE); repeatable",
    )
    parser.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN part")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- the database


@contextlib.asynccontextmanager
async def bench_database(
    console: Console, server_url: str, reuse: str, keep: bool
) -> AsyncIterator[str]:
    """The given database, or a fresh bench_<random> one dropped at the end unless keep."""
    if reuse:
        yield reuse
        return
    name = unique_name("bench")
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = with_database(server_url, name)
        try:
            yield url
        finally:
            if keep:
                console.print(f"kept database {name}: --database-url {url}")
            else:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def prepare_schema(conn: asyncpg.Connection, now: datetime) -> None:
    await repository.migrate_audit(conn)
    await repository.ensure_partitions(conn, now, DAYS // 28 + 2, 1)


async def index_definitions(
    conn: asyncpg.Connection,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(name, CREATE INDEX) of audit_events' own indexes (not the primary key), and (name,
    ALTER TABLE) of its primary key: to drop them for the load and rebuild them after."""
    rows = await conn.fetch(
        "SELECT c.relname, pg_get_indexdef(c.oid) AS def FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'audit_events'::regclass AND NOT i.indisprimary ORDER BY c.relname"
    )
    indexes = [(r["relname"], r["def"].replace(" ON ONLY ", " ON ")) for r in rows]
    keys = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint"
        " WHERE conrelid = 'audit_events'::regclass AND contype = 'p'"
    )
    constraints = [
        (k["conname"], f"ALTER TABLE audit_events ADD CONSTRAINT {k['conname']} {k['def']}")
        for k in keys
    ]
    return indexes, constraints


async def generate(
    url: str, conn: asyncpg.Connection, console: Console, n: int, chunk: int, loaders: int
) -> None:
    """n rows in chunks on `loaders` connections at once, without the indexes; then the
    indexes (from their own definitions), VACUUM ANALYZE."""
    indexes, constraints = await index_definitions(conn)
    for name, _ in indexes:
        await conn.execute(f'DROP INDEX "{name}"')
    for name, _ in constraints:
        await conn.execute(f'ALTER TABLE audit_events DROP CONSTRAINT "{name}"')
    anchor = datetime.now(UTC)
    chunks = [(low, min(low + chunk - 1, n)) for low in range(1, n + 1, chunk)]
    started = time.perf_counter()

    async def loader() -> None:
        worker = await asyncpg.connect(url)
        try:
            await worker.execute("SET synchronous_commit = off")
            while chunks:
                low, high = chunks.pop(0)
                t = time.perf_counter()
                await worker.execute(GENERATE, low, high, anchor)
                elapsed = time.perf_counter() - t
                console.print(
                    f"  rows {low:,}..{high:,} in {elapsed:.1f} s"
                    f" ({(high - low + 1) / elapsed:,.0f}/s on one connection;"
                    f" {time.perf_counter() - started:.0f} s so far)"
                )
        finally:
            await worker.close()

    try:
        async with asyncio.TaskGroup() as group:  # one failing cancels the others
            for _ in range(max(1, loaders)):
                group.create_task(loader())
    finally:
        insert_s = time.perf_counter() - started
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for _, statement in [*constraints, *indexes]:
            t = time.perf_counter()
            await conn.execute(statement)
            console.print(f"  {statement[:100]}... in {time.perf_counter() - t:.1f} s")
        await conn.execute("RESET maintenance_work_mem")
        index_s = time.perf_counter() - started - insert_s
    t = time.perf_counter()
    await conn.execute("VACUUM (ANALYZE) audit_events")
    vacuum_s = time.perf_counter() - t
    size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    console.print(
        f"generated {n:,} events in {time.perf_counter() - started:.0f} s: INSERT ... SELECT"
        f" {insert_s:.0f} s ({n / insert_s:,.0f}/s, {loaders} connections), indexes"
        f" {index_s:.0f} s, VACUUM ANALYZE {vacuum_s:.0f} s; database size {size}"
    )


# ---------------------------------------------------------------- the filters


@dataclass(frozen=True)
class Filter:
    key: str
    what: str
    message: q.EventFilter

    @property
    def label(self) -> str:
        return f"{self.key} {self.what}"


def _filter(**fields: Any) -> q.EventFilter:
    return q.EventFilter(
        preset=q.TIME_PRESET_LAST_7_DAYS, scopes=[q.ScopeFilter(scope=ACCOUNT)], **fields
    )


async def pick_filters(conn: asyncpg.Connection, now: datetime, enough: int) -> list[Filter]:
    """The typical filters, their values chosen from the data (acct000, the last 7 days);
    `enough` events make the later page exist."""
    week = query_of(_filter(), now, RETENTION_DAYS)
    users = await conn.fetch(
        "SELECT principal_id, count(*) AS n FROM audit_events WHERE account = $1"
        " AND occurred_at >= $2 AND occurred_at < $3 AND principal_type = 'USER'"
        " GROUP BY principal_id ORDER BY n DESC, principal_id",
        ACCOUNT,
        week.start,
        week.end,
    )
    types = await conn.fetch(
        "SELECT resource_type, count(*) AS n FROM audit_events WHERE account = $1"
        " AND occurred_at >= $2 AND occurred_at < $3 GROUP BY resource_type"
        " ORDER BY n DESC, resource_type",
        ACCOUNT,
        week.start,
        week.end,
    )
    newest = await conn.fetchval(
        "SELECT resource_id FROM audit_events WHERE account = $1 AND occurred_at < $2"
        " AND resource_id LIKE 'pipeline-falcon-%' ORDER BY occurred_at DESC LIMIT 1",
        ACCOUNT,
        week.end,
    )
    if not users or not types:
        raise SystemExit(f"no events of {ACCOUNT} in the last 7 days: generate some first")
    busy, median = users[0]["principal_id"], users[len(users) // 2]["principal_id"]
    common = types[0]["resource_type"]
    # The rarest type with a later page, else the rarest of all.
    rare = [t["resource_type"] for t in types[1:] if t["n"] >= enough]
    rare = rare or [types[-1]["resource_type"]]
    specific = newest[:-1] if newest and len(newest) > len("pipeline-falcon-1") else "falcon-12"

    def principal(identifier: str) -> q.PrincipalFilter:
        return q.PrincipalFilter(type=ev.PRINCIPAL_TYPE_USER, identifier=identifier)

    return [
        Filter("a", "account, 7 d", _filter()),
        Filter("b1", f"+ busiest user {busy}", _filter(principals=[principal(busy)])),
        Filter("b2", f"+ median user {median}", _filter(principals=[principal(median)])),
        Filter("c1", f"+ type {common}", _filter(resource_types=[common])),
        Filter("c2", f"+ type {rare[-1]}", _filter(resource_types=[rare[-1]])),
        Filter("d1", "+ text 'falcon'", _filter(text="falcon")),
        Filter("d2", f"+ text '{specific}'", _filter(text=specific)),
        Filter("d3", "+ text 'no-such-thing'", _filter(text="no-such-thing")),
    ]


def statement(
    query: EventQuery, after: tuple[datetime, str] | None, limit: int
) -> tuple[str, list[object]]:
    """The statement and parameters services.audit.store.queries.list_events sends."""
    clause, params = where(query, after)
    sql = (
        f"{SELECT_RECORD} WHERE {clause} ORDER BY occurred_at DESC, event_id DESC"
        f" LIMIT {int(limit)}"
    )
    return sql, params


# ---------------------------------------------------------------- measuring


@dataclass
class Pair:
    """One filter and page: the gRPC and bare SQL series, and what the page held."""

    filter: Filter
    page: int
    grpc: Latency
    sql: Latency
    rows: int = 0
    matches: int = 0
    note: str = ""


async def series(
    calls: list[Callable[[], Awaitable[Any]]], warm_up: int, samples: int, timeout_s: float
) -> list[list[float]]:
    """Interleaved: each round calls each of `calls` once (so they see the same moments of a
    noisy machine); at most warm_up + samples rounds and timeout_s seconds."""
    timed: list[list[float]] = [[] for _ in calls]
    started = time.perf_counter()
    for round_ in range(warm_up + samples):
        if time.perf_counter() - started > timeout_s:
            break
        for call, samples_s in zip(calls, timed, strict=True):
            t = time.perf_counter()
            await call()
            if round_ >= warm_up:
                samples_s.append(time.perf_counter() - t)
    return timed


class Client:
    def __init__(self, channel: grpc.aio.Channel, token: str, page_size: int) -> None:
        self.stub = q_grpc.AuditQueryServiceStub(channel)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.page_size = page_size

    async def page(self, f: q.EventFilter, token: str = "") -> q.ListEventsResponse:
        request = q.ListEventsRequest(filter=f, page_size=self.page_size, page_token=token)
        return await self.stub.ListEvents(request, metadata=self.metadata, timeout=CALL_TIMEOUT_S)


async def measure(
    client: Client, conn: asyncpg.Connection, f: Filter, args: argparse.Namespace, matches: int
) -> list[Pair]:
    """The first and the later page of one filter."""
    size = args.page_size

    def sql_call(after: tuple[datetime, str] | None) -> Callable[[], Awaitable[Any]]:
        async def call() -> list[asyncpg.Record]:
            query = query_of(f.message, datetime.now(UTC), RETENTION_DAYS)
            sql, params = statement(query, after, size + 1)
            return await conn.fetch(sql, *params)

        return call

    # Walk to the later page both ways (untimed): its page token, and its keyset position.
    token, after = "", None
    positions: list[tuple[str, tuple[datetime, str] | None]] = []
    pages: list[tuple[q.ListEventsResponse, list[asyncpg.Record]]] = []
    for _ in range(args.page):
        positions.append((token, after))
        response = await client.page(f.message, token)
        rows = await sql_call(after)()
        pages.append((response, rows))
        if not response.next_page_token or len(rows) <= size:
            break
        token, last = response.next_page_token, rows[size - 1]
        after = (last["occurred_at"], str(last["event_id"]))
    results = []
    for page in (1, args.page) if len(pages) == args.page else (1,):
        (page_token, page_after), (response, rows) = positions[page - 1], pages[page - 1]
        same = [e.event_id for e in response.events] == [str(r["event_id"]) for r in rows[:size]]

        async def grpc_call(page_token: str = page_token) -> q.ListEventsResponse:
            return await client.page(f.message, page_token)

        grpc_s, sql_s = await series(
            [grpc_call, sql_call(page_after)], args.warm_up, args.samples, args.phase_timeout
        )
        label = f"{f.label}, page {page}"
        results.append(
            Pair(
                f,
                page,
                Latency(f"{label}: gRPC", grpc_s, args.samples),
                Latency(f"{label}: SQL", sql_s, args.samples),
                len(response.events),
                matches,
                "" if same else "gRPC and SQL pages differ!",
            )
        )
    if len(pages) < args.page:
        none = Latency("", [], 0)
        note = f"only {len(pages)} page(s)"
        results.append(Pair(f, args.page, none, none, 0, matches, note))
    return results


async def overheads(
    channel: grpc.aio.Channel, authz_channel: grpc.aio.Channel, token: str, args: argparse.Namespace
) -> list[Latency]:
    """What every ListEvents pays besides its SQL: a gRPC round trip to the same server, and
    the check the servicer sends to authz (WhoAmI is cached for 5 s, the check is not): for a
    scope with its children, Explain at the scope."""
    health = health_pb2_grpc.HealthStub(channel)
    access = apb_grpc.AccessServiceStub(authz_channel)
    metadata = (("authorization", f"Bearer {token}"),)
    me = await access.WhoAmI(apb.WhoAmIRequest(), metadata=metadata, timeout=CALL_TIMEOUT_S)
    check = apb.CheckRequest(
        principal=me.principal,
        resource_scope=ACCOUNT,
        resource_type=AUDIT_TYPE,
        permission=AUDIT_VIEW,
    )

    async def ping() -> Any:
        return await health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S)

    async def explain() -> Any:
        return await access.Explain(check, metadata=metadata, timeout=CALL_TIMEOUT_S)

    ping_s, check_s = await series([ping, explain], args.warm_up, args.samples, args.phase_timeout)
    return [
        Latency("gRPC round trip: Health/Check on the query server", ping_s, args.samples),
        Latency("authz Explain (the servicer's per-request check)", check_s, args.samples),
    ]


# ---------------------------------------------------------------- EXPLAIN


def _plan_lines(node: dict[str, Any], depth: int = 0) -> list[str]:
    what = node["Node Type"]
    on = node.get("Index Name") or node.get("Relation Name")
    if on:
        what += f" on {on}"
    details = [f"rows={node.get('Actual Rows', '?')}"]
    if node.get("Actual Loops", 1) != 1:
        details.append(f"loops={node['Actual Loops']}")
    details.append(f"est={node.get('Plan Rows', '?')}")
    if "Actual Total Time" in node:
        details.append(f"{node['Actual Total Time']:.2f} ms")
    for key in ("Rows Removed by Filter", "Rows Removed by Index Recheck", "Exact Heap Blocks",
                "Lossy Heap Blocks", "Subplans Removed"):  # fmt: skip
        if node.get(key):
            details.append(f"{key.lower()}={node[key]}")
    hit, read = node.get("Shared Hit Blocks", 0), node.get("Shared Read Blocks", 0)
    details.append(f"buffers hit={hit} read={read}")
    lines = ["  " * depth + f"{what} ({', '.join(details)})"]
    children = node.get("Plans", [])
    for child in children[:4]:
        lines += _plan_lines(child, depth + 1)
    if len(children) > 4:
        lines.append("  " * (depth + 1) + f"... {len(children) - 4} more alike")
    return lines


def _literal(value: object) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]::text[]"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    return "'" + str(value).replace("'", "''") + "'"


async def explain(conn: asyncpg.Connection, f: Filter, size: int) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the first-page statement: the custom plan (for these
    values), and the generic plan a cached prepared statement may switch to."""
    query = query_of(f.message, datetime.now(UTC), RETENTION_DAYS)
    sql, params = statement(query, None, size + 1)
    lines = []
    for kind in ("custom", "generic"):
        await conn.execute(f"PREPARE bench_explain AS {sql}")
        try:
            await conn.execute(f"SET plan_cache_mode = force_{kind}_plan")
            values = ", ".join(_literal(p) for p in params)
            raw = await conn.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE bench_explain({values})"
            )
        finally:
            await conn.execute("RESET plan_cache_mode")
            await conn.execute("DEALLOCATE bench_explain")
        plan = json.loads(raw)[0]
        planning, execution = plan.get("Planning Time", 0.0), plan["Execution Time"]
        lines.append(
            f"{f.label}, first page, {kind} plan:"
            f" planning {planning:.2f} ms, execution {execution:.2f} ms"
        )
        lines += ["    " + line for line in _plan_lines(plan["Plan"])]
    return lines


# ---------------------------------------------------------------- report


def summary_table(title: str, pairs: list[Pair]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("filter")
    for column in ("matches", "page", "rows", "n", "SQL p50", "SQL p95", "gRPC p50", "gRPC p95",
                   "p50 gRPC/SQL", "p95 gRPC/SQL", "gRPC p95 < 20 ms"):  # fmt: skip
        table.add_column(column, justify="right")
    for pair in pairs:
        if not pair.grpc.samples_s:
            table.add_row(pair.filter.label, f"{pair.matches:,}", str(pair.page), "-", "-",
                          *["-"] * 6, pair.note or "-")  # fmt: skip
            continue
        s50, s95 = pair.sql.quantile(50), pair.sql.quantile(95)
        g50, g95 = pair.grpc.quantile(50), pair.grpc.quantile(95)
        n = str(len(pair.grpc.samples_s))
        if len(pair.grpc.samples_s) != pair.grpc.expected:
            n += f"/{pair.grpc.expected}"
        table.add_row(
            pair.filter.label,
            f"{pair.matches:,}",
            str(pair.page),
            str(pair.rows),
            n,
            f"{s50 * 1000:.2f}",
            f"{s95 * 1000:.2f}",
            f"{g50 * 1000:.2f}",
            f"{g95 * 1000:.2f}",
            ratio(g50, s50),
            ratio(g95, s95),
            ("yes" if g95 < TARGET_P95_S else "NO") + (f" ({pair.note})" if pair.note else ""),
        )
    return table


# ---------------------------------------------------------------- main


async def main(argv: list[str]) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(width=max(Console().width, 160))  # rows unwrapped when piped
    server_url = endpoints().database_url
    free = shutil.disk_usage("/").free
    needed = args.events * BYTES_PER_EVENT
    console.print(
        f"audit query benchmark: python {platform.python_version()}, asyncpg"
        f" {asyncpg.__version__}, grpc {grpc.__version__}; free disk on / {free / 1e9:.1f} GB"
    )
    if not args.database_url and needed > free - 5e9:
        raise SystemExit(
            f"{args.events:,} events need about {needed / 1e9:.1f} GB and / has"
            f" {free / 1e9:.1f} GB free: ask for fewer (--events)"
        )
    modes = [m.strip() for m in args.plan_cache_modes.split(",") if m.strip()]
    if unknown := [m for m in modes if m not in PLAN_CACHE_MODES]:
        raise SystemExit(f"unknown plan_cache_mode {', '.join(unknown)}")
    wanted = [k.strip() for k in args.filters.split(",") if k.strip()]
    async with bench_database(console, server_url, args.database_url, args.keep) as url:
        conn = await asyncpg.connect(url)
        try:
            server_version = await conn.fetchval("SHOW server_version")
            console.print(f"PostgreSQL {server_version}, database {database_name(url)}")
            await prepare_schema(conn, datetime.now(UTC))
            count = await conn.fetchval("SELECT count(*) FROM audit_events")
            if count == 0:
                console.print(f"generating {args.events:,} events over the last {DAYS} days")
                await generate(url, conn, console, args.events, args.chunk, args.load_connections)
                count = args.events
            else:
                console.print(f"reusing {count:,} events")
            for sql in args.setup_sql:
                started = time.perf_counter()
                await conn.execute(sql)
                console.print(f"setup: {sql} ({time.perf_counter() - started:.1f} s)")
            if args.setup_sql:
                await conn.execute("ANALYZE audit_events")
            await conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
            enough = args.page * args.page_size + 1
            filters = [
                f for f in await pick_filters(conn, datetime.now(UTC), enough) if f.key in wanted
            ]
            await run(console, args, url, conn, filters, count, modes)
        finally:
            await conn.close()


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def run(
    console: Console,
    args: argparse.Namespace,
    url: str,
    conn: asyncpg.Connection,
    filters: list[Filter],
    count: int,
    modes: list[str],
) -> None:
    authz_settings = AuthzSettings(
        database_url=SecretStr(url), port=0, shutdown_grace_s=2.0, run_relay=False
    )
    matches = {}
    for f in filters:
        clause, params = where(query_of(f.message, datetime.now(UTC), RETENTION_DAYS))
        matches[f.key] = await conn.fetchval(
            f"SELECT count(*) FROM audit_events WHERE {clause}", *params
        )
    measured: dict[str, list[Pair]] = {}
    async with running_server(authz_settings) as authz_server:
        token = await bootstrap_admin(authz_server.management, ACCOUNT, ADMIN)
        settings = AuditSettings(
            database_url=SecretStr(url), port=0, authz_target=f"127.0.0.1:{authz_server.port}"
        )
        authz_channel = grpc.aio.insecure_channel(f"127.0.0.1:{authz_server.port}")
        try:
            for mode in modes:
                # New connections of the query server's pool take the database's setting.
                await set_plan_cache_mode(conn, url, mode)
                async with running_query_server(settings) as query_server:
                    channel = grpc.aio.insecure_channel(f"127.0.0.1:{query_server.port}")
                    try:
                        client = Client(channel, token, args.page_size)
                        pairs: list[Pair] = []
                        for f in filters:
                            started = time.perf_counter()
                            pairs += await measure(client, conn, f, args, matches[f.key])
                            console.print(
                                f"  plan_cache_mode {mode}: measured {f.label}"
                                f" ({matches[f.key]:,} matching events)"
                                f" in {time.perf_counter() - started:.1f} s"
                            )
                        measured[mode] = pairs
                        base = await overheads(channel, authz_channel, token, args)
                    finally:
                        await channel.close(None)
        finally:
            await authz_channel.close(None)
            await set_plan_cache_mode(conn, url, "auto")
    console.print(
        f"{count:,} events in the store; {args.samples} samples per series after"
        f" {args.warm_up} warm-up, gRPC and SQL interleaved; each series at most"
        f" {args.phase_timeout:g} s; page size {args.page_size}; all filters in {ACCOUNT}"
    )
    for mode, pairs in measured.items():
        what = "as configured (auto)" if mode == "auto" else f"= {mode} on the database"
        title = f"ListEvents p50 / p95 (ms), plan_cache_mode {what}: gRPC beside bare SQL"
        console.print(summary_table(title, pairs))
    rows: list[tuple[Latency, Latency | None]] = []
    for mode, pairs in measured.items():
        for pair in pairs:
            if pair.grpc.samples_s:
                rows += [(named(pair.sql, mode), None), (named(pair.grpc, mode), pair.sql)]
    rows += [(latency, None) for latency in base]
    console.print(latency_table("ListEvents latency (ms): each gRPC row beside its SQL", rows))
    if not args.no_explain:
        console.print("EXPLAIN (ANALYZE, BUFFERS) of the first-page statements:")
        for f in filters:
            for line in await explain(conn, f, args.page_size):
                console.print(line, markup=False, highlight=False)
    for mode, pairs in measured.items():
        worst = max((p.grpc for p in pairs if p.grpc.samples_s), key=lambda g: g.quantile(95))
        console.print(
            f"plan_cache_mode {mode}: worst gRPC p95 {worst.quantile(95) * 1000:.1f} ms"
            f" ({worst.what}); target p95 < {TARGET_P95_S * 1000:.0f} ms"
        )


def named(latency: Latency, mode: str) -> Latency:
    return Latency(f"[{mode}] {latency.what}", latency.samples_s, latency.expected)


async def set_plan_cache_mode(conn: asyncpg.Connection, url: str, mode: str) -> None:
    """For the database (new connections) and for the bare SQL connection."""
    name = database_name(url)
    try:
        if mode == "auto":
            await conn.execute(f'ALTER DATABASE "{name}" RESET plan_cache_mode')
            await conn.execute("RESET plan_cache_mode")
        else:
            await conn.execute(f'ALTER DATABASE "{name}" SET plan_cache_mode = {mode}')
            await conn.execute(f"SET plan_cache_mode = {mode}")
    except asyncpg.InsufficientPrivilegeError:
        if mode != "auto":
            raise SystemExit(
                f"cannot ALTER DATABASE {name} (not its owner): use --plan-cache-modes auto"
            ) from None


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

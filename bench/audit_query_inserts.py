"""Insert throughput into the audit store with the free-text index of today (migration 0006:
words per account and day) beside the one it replaced (0002: two trigram indexes), measured in
the same run: part of `python -m bench audit_query` (--insert-events).

Two fresh databases get every migration; in the "trigram" one, 0006's index is swapped back for
0002's. The same events (plausible resource identifiers and e-mails, like the query
benchmark's) are written by repository.write_batch (the projector's write: one transaction per
batch, chain included) in batches of the projector's size, alternating between the two stores
batch by batch, so that both see the same moments of a noisy machine."""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.endpoints import fresh_database
from bench.report import Throughput
from services.audit.domain.records import AuditRecord
from services.audit.settings import AuditSettings
from services.audit.store import repository

KEYS = AuditSettings().chain_keys()
TRIGRAM_INDEXES = [
    "DROP INDEX audit_events_search",
    "CREATE INDEX audit_events_resource_id_trgm ON audit_events"
    " USING gin (resource_id gin_trgm_ops)",
    "CREATE INDEX audit_events_principal_email_trgm ON audit_events"
    " USING gin (principal_email gin_trgm_ops)",
]
WORDS = ["falcon", "heron", "otter", "badger", "lynx", "raven", "alpha", "bravo", "delta", "echo"]
TYPES = ["user", "role-binding", "pipeline", "role", "secret", "connector", "service-account"]
NAMES = ["maria.smith", "james.garcia", "anna.muller", "david.rossi", "laura.kowalski"]


def records(n: int, now: datetime, seed: int = 21) -> list[AuditRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        account = f"acct{rng.randrange(50):03d}"
        kind = rng.choice(TYPES)
        email = "" if rng.random() < 0.2 else f"{rng.choice(NAMES)}{i % 1000}@{account}.example.com"
        out.append(
            AuditRecord(
                event_id=uuid.UUID(int=rng.getrandbits(128)),
                occurred_at=now - timedelta(seconds=rng.randrange(7 * 86400)),
                account=account,
                organization="org1",
                project="",
                module="authz",
                principal_type="USER",
                principal_id=f"user-{i % 1000}",
                principal_email=email,
                action="UPDATE",
                resource_type=kind.upper().replace("-", "_"),
                resource_id=f"{kind}-{rng.choice(WORDS)}-{rng.randrange(5000)}",
                resource_labels={},
                client_ip="10.0.0.1",
                user_agent="bench",
                request_id=f"req-{i}",
                old_state={"n": i},
                new_state={"n": i + 1},
                policy_revision=i,
                schema_version=1,
            )
        )
    return out


@contextlib.asynccontextmanager
async def store(server_url: str, now: datetime, trigram: bool) -> AsyncIterator[asyncpg.Connection]:
    async with fresh_database(server_url) as url:
        conn = await asyncpg.connect(url)
        try:
            await repository.migrate_audit(conn)
            await repository.ensure_partitions(conn, now, 1, 1)
            for statement in TRIGRAM_INDEXES if trigram else []:
                await conn.execute(statement)
            yield conn
        finally:
            await conn.close()


async def compare(server_url: str, n: int, batch: int) -> tuple[Throughput, Throughput]:
    """(trigram indexes of 0002, word index of 0006): events/s of the same events."""
    now = datetime.now(UTC)
    events = records(n, now)
    spent = {True: 0.0, False: 0.0}
    stored = {True: 0, False: 0}
    async with store(server_url, now, True) as trigram, store(server_url, now, False) as words:
        for k, start in enumerate(range(0, n, batch)):
            chunk = events[start : start + batch]
            order = [(True, trigram), (False, words)]
            for is_trigram, conn in order if k % 2 == 0 else order[::-1]:
                t = time.perf_counter()
                stored[is_trigram] += await repository.write_batch(conn, chunk, [], KEYS)
                spent[is_trigram] += time.perf_counter() - t
    what = "repository.write_batch into audit_events, free-text index:"
    return (
        Throughput(f"{what} trigram (0002, before)", str(batch), stored[True], spent[True]),
        Throughput(
            f"{what} words per account and day (0006)", str(batch), stored[False], spent[False]
        ),
    )

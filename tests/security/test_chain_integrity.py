"""Tampering with the audit store as someone who can write the database but does not hold the
chain key: deleting the newest events, rewinding or deleting the head, recomputing the chain.
Every attempt is found; rotating the key keeps old events verifiable."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import SecretStr

from audit.v1 import query_pb2 as q
from services.audit.chain_verification import Verification, verify_account
from services.audit.domain.chain import (
    GENESIS,
    ChainKeys,
    canonical_bytes,
    head_mac,
    link,
)
from services.audit.settings import AuditSettings
from services.audit.store import repository
from tests.audit.helpers import KEYS
from tests.audit.query_fixtures import NOW, QueryApi, record, store
from tests.harness.endpoints import ROOT

pytestmark = pytest.mark.integration

EVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
OLD = ChainKeys("2025-q1", {"2025-q1": b"o" * 32})
NEW = ChainKeys("2025-q2", {"2025-q2": b"n" * 32, "2025-q1": b"o" * 32})


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await repository.migrate_audit(connection)
    yield connection
    await connection.close()


async def verified(conn: asyncpg.Connection, keys: ChainKeys = KEYS) -> Verification:
    return await verify_account(conn, "a", *EVER, keys)


async def test_deleting_the_newest_events_is_a_truncated_tail(conn: asyncpg.Connection) -> None:
    records = [record(i) for i in range(20)]
    await repository.write_batch(conn, records, [], KEYS)
    assert (await verified(conn)).broken is None
    await conn.execute("DELETE FROM audit_events WHERE chain_seq > 17")
    result = await verified(conn)
    assert result.broken is not None
    assert "truncated tail" in result.broken.reason
    assert result.broken.seq == 18
    # The range checked does not matter: the tail is always compared with the head.
    newest_minute = await verify_account(conn, "a", NOW, NOW + timedelta(seconds=1), KEYS)
    assert newest_minute.checked == 1
    assert newest_minute.broken is not None


async def test_rewinding_the_head_to_an_earlier_event_does_not_verify(
    conn: asyncpg.Connection,
) -> None:
    await repository.write_batch(conn, [record(i) for i in range(10)], [], KEYS)
    await conn.execute("DELETE FROM audit_events WHERE chain_seq > 6")
    await conn.execute(
        "UPDATE audit_chain_heads h SET seq = 6, hash = e.hash FROM audit_events e"
        " WHERE e.account = h.account AND e.chain_seq = 6"
    )
    result = await verified(conn)
    assert result.broken is not None
    assert "signature" in result.broken.reason


async def test_deleting_the_head_is_found(conn: asyncpg.Connection) -> None:
    await repository.write_batch(conn, [record(i) for i in range(3)], [], KEYS)
    await conn.execute("DELETE FROM audit_chain_heads")
    result = await verified(conn)
    assert result.broken is not None
    assert "no chain head" in result.broken.reason


async def test_a_chain_recomputed_without_the_key_does_not_verify(
    conn: asyncpg.Connection,
) -> None:
    """The attacker edits an event and recomputes every link and the head: with plain SHA-256
    (the old unkeyed chain), and with a key of its own."""
    await repository.write_batch(conn, [record(i) for i in range(8)], [], KEYS)
    guessed = ChainKeys(KEYS.current_id, {KEYS.current_id: b"attacker-guess-0123456789"})
    for recompute in ("sha256", "own key"):
        rows = await repository.chain_rows(conn, "a", *EVER)
        previous = GENESIS
        for row in rows:
            forged = row.record._replace(principal_id="mallory")
            if recompute == "sha256":
                current = hashlib.sha256(previous + canonical_bytes(forged)).digest()
            else:
                key = guessed.keys[row.key_id]
                current = link(key, row.key_id, row.seq, previous, canonical_bytes(forged))
            await conn.execute(
                "UPDATE audit_events SET principal_id = 'mallory', prev_hash = $2, hash = $3"
                " WHERE event_id = $1",
                row.record.event_id,
                previous,
                current,
            )
            previous = current
        mac = head_mac(guessed.keys[KEYS.current_id], KEYS.current_id, "a", len(rows), previous)
        await conn.execute("UPDATE audit_chain_heads SET hash = $1, mac = $2", previous, mac)
        result = await verified(conn)
        assert result.broken is not None, recompute
        assert result.broken.seq == 1
        assert "keyed hash" in result.broken.reason


async def test_a_replayed_older_signed_head_is_found_against_a_recorded_head(
    conn: asyncpg.Connection,
) -> None:
    """The one attack the database alone cannot show: truncate, then put back a signed head
    copied earlier. A head recorded outside the database in between (chain-heads, or the head
    VerifyChain returns) shows it."""
    await repository.write_batch(conn, [record(i) for i in range(6)], [], KEYS)
    copied = await conn.fetchrow("SELECT seq, hash, key_id, mac FROM audit_chain_heads")
    assert copied is not None
    await repository.write_batch(conn, [record(i) for i in range(6, 10)], [], KEYS)
    head = (await verified(conn)).head
    assert head is not None
    recorded = (head.seq, head.hash)
    await repository.write_batch(conn, [record(i) for i in range(10, 12)], [], KEYS)
    grown = await verify_account(conn, "a", *EVER, KEYS, recorded)
    assert grown.broken is None  # an honest chain only grows past its recorded heads

    await conn.execute("DELETE FROM audit_events WHERE chain_seq > 6")
    await conn.execute(
        "UPDATE audit_chain_heads SET seq = $1, hash = $2, key_id = $3, mac = $4",
        *copied.values(),
    )
    assert (await verified(conn)).broken is None  # what the database alone cannot tell
    result = await verify_account(conn, "a", *EVER, KEYS, recorded)
    assert result.broken is not None
    assert "rolled back" in result.broken.reason


async def test_rotation_keeps_old_events_verifiable(conn: asyncpg.Connection) -> None:
    await repository.write_batch(conn, [record(i) for i in range(5)], [], OLD)
    await repository.write_batch(conn, [record(i) for i in range(5, 9)], [], NEW)
    ids = await conn.fetch("SELECT chain_seq, chain_key_id FROM audit_events ORDER BY chain_seq")
    assert [r["chain_key_id"] for r in ids] == ["2025-q1"] * 5 + ["2025-q2"] * 4
    assert await conn.fetchval("SELECT key_id FROM audit_chain_heads") == "2025-q2"
    result = await verified(conn, NEW)
    assert result.broken is None
    assert result.checked == 9
    # Forgetting the retired key makes its events unverifiable, and says so.
    forgot = ChainKeys("2025-q2", {"2025-q2": b"n" * 32})
    unverifiable = await verified(conn, forgot)
    assert unverifiable.broken is not None
    assert unverifiable.broken.seq == 1
    assert "'2025-q1' is not configured" in unverifiable.broken.reason


async def test_the_rpc_and_the_command_report_a_truncated_tail(api: QueryApi) -> None:
    await store(api.database_url, [record(i) for i in range(12)])
    intact = await api.stub.VerifyChain(q.VerifyChainRequest(account="a"), metadata=api.admin)
    assert intact.intact
    assert intact.head_position == 12
    assert intact.head_key_id == KEYS.current_id
    again = await api.stub.VerifyChain(
        q.VerifyChainRequest(
            account="a",
            recorded_head_position=intact.head_position,
            recorded_head_hash=intact.head_hash,
        ),
        metadata=api.admin,
    )
    assert again.intact
    heads = await asyncio.to_thread(command_output, api.database_url, "chain-heads")
    assert heads.returncode == 0
    line = json.loads(heads.stdout.splitlines()[0])
    assert (line["account"], line["position"], line["hash"]) == ("a", 12, intact.head_hash)
    db = await asyncpg.connect(api.database_url)
    try:
        await db.execute("DELETE FROM audit_events WHERE chain_seq = 12")
    finally:
        await db.close()
    broken = await api.stub.VerifyChain(q.VerifyChainRequest(account="a"), metadata=api.admin)
    assert not broken.intact
    assert "truncated tail" in broken.reason
    command = await asyncio.to_thread(
        command_output,
        api.database_url,
        "verify-chain",
        "a",
        f"--recorded-head=12:{intact.head_hash}",
    )
    assert command.returncode == 1
    assert "truncated tail" in command.stdout
    assert "published development key" in command.stderr  # the default key is warned about
    # A verifier without the writer's key finds nothing intact.
    other = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.audit", "verify-chain", "a"],
        cwd=ROOT,
        env={
            **os.environ,
            "AUDIT_DATABASE_URL": api.database_url,
            "AUDIT_CHAIN_KEY_ID": "prod-1",
            "AUDIT_CHAIN_KEY": "another-key-of-at-least-16-bytes",
            "AUDIT_CHAIN_OLD_KEYS": "{}",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 1
    assert "chain position 1 " in other.stdout
    assert "'dev-insecure' is not configured" in other.stdout


def command_output(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.audit", *args],
        cwd=ROOT,
        env={**os.environ, "AUDIT_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keys_are_redacted_when_settings_are_printed() -> None:
    settings = AuditSettings(
        chain_key=SecretStr("current-key-material-0123"),
        chain_old_keys={"old": SecretStr("old-key-material-456789")},
    )
    printed = f"{settings!r} {settings} {settings.model_dump()}"
    assert "current-key-material" not in printed
    assert "old-key-material" not in printed


def test_a_short_key_or_a_real_key_under_the_development_id_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        AuditSettings(chain_key=SecretStr("short"), chain_key_id="k").chain_keys()
    with pytest.raises(ValueError, match="AUDIT_CHAIN_KEY_ID"):
        AuditSettings(chain_key=SecretStr("a-real-key-of-32-bytes-0123456789")).chain_keys()

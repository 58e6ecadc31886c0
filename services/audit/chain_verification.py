"""One account's chain verified against the store: the keyed links of a range, then the newest
event against the signed head. Shared by the VerifyChain RPC and the verify-chain command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.audit.domain.chain import BrokenLink, ChainHead, ChainKeys, RecordedHead, verify
from services.audit.store import repository
from services.audit.store.repository import Conn


@dataclass(frozen=True)
class Verification:
    checked: int
    broken: BrokenLink | None
    head: ChainHead | None


async def verify_account(
    conn: Conn,
    account: str,
    start: datetime,
    end: datetime,
    keys: ChainKeys,
    recorded: tuple[int, bytes] | None = None,
) -> Verification:
    """`recorded`: a head (position, link) kept outside the database since an earlier check."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await repository.chain_rows(conn, account, start, end)
        head, newest = await repository.chain_tail(conn, account)
        record = None
        if recorded is not None:
            stored = await repository.hash_at(conn, account, recorded[0])
            record = RecordedHead(recorded[0], recorded[1], stored)
    return Verification(len(rows), verify(rows, head, newest, keys, record), head)

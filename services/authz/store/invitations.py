"""The SQL of invitations (table `invitations`, migration 0004), inside the caller's
transaction. States are computed from the timestamps at the moment passed in (the clock is the
caller's), never from the database's now()."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from services.authz.domain.invitations import GroupRef, Invitation, Inviter, State
from services.authz.store.repository import Conn

_COLUMNS = (
    "account, user_identifier, email, display_name, user_groups, inviter, prefix, secret_hash,"
    " created_at, expires_at, sends, accepted_at, revoked_at, expired_at"
)
# The SQL condition of each state at $now (the parameter number is filled in).
_STATE_SQL: dict[State, str] = {
    "ACCEPTED": "accepted_at IS NOT NULL",
    "REVOKED": "accepted_at IS NULL AND revoked_at IS NOT NULL",
    "EXPIRED": "accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= ${n}",
    "PENDING": "accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ${n}",
}


def _invitation(row: asyncpg.Record) -> Invitation:
    return Invitation(
        account=row["account"],
        user=row["user_identifier"],
        email=row["email"],
        display_name=row["display_name"],
        user_groups=tuple(GroupRef(s, i) for s, i in json.loads(row["user_groups"])),
        inviter=Inviter(**json.loads(row["inviter"])),
        prefix=row["prefix"],
        secret_hash=bytes(row["secret_hash"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        sends=row["sends"],
        accepted_at=row["accepted_at"],
        revoked_at=row["revoked_at"],
        expired_at=row["expired_at"],
    )


async def insert(conn: Conn, inv: Invitation) -> None:
    await conn.execute(
        f"INSERT INTO invitations ({_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        inv.account,
        inv.user,
        inv.email,
        inv.display_name,
        json.dumps([list(g) for g in inv.user_groups]),
        json.dumps(inv.inviter.__dict__),
        inv.prefix,
        inv.secret_hash,
        inv.created_at,
        inv.expires_at,
        inv.sends,
        inv.accepted_at,
        inv.revoked_at,
        inv.expired_at,
    )


async def save(conn: Conn, inv: Invitation) -> None:
    """Write back every mutable field of an invitation read earlier in the transaction."""
    await conn.execute(
        "UPDATE invitations SET prefix = $3, secret_hash = $4, inviter = $5, sends = $6,"
        " expires_at = $7, accepted_at = $8, revoked_at = $9, expired_at = $10"
        " WHERE account = $1 AND user_identifier = $2",
        inv.account,
        inv.user,
        inv.prefix,
        inv.secret_hash,
        json.dumps(inv.inviter.__dict__),
        inv.sends,
        inv.expires_at,
        inv.accepted_at,
        inv.revoked_at,
        inv.expired_at,
    )


async def of_user(conn: Conn, account: str, user: str, *, lock: bool = False) -> Invitation | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM invitations WHERE account = $1 AND user_identifier = $2"
        + (" FOR UPDATE" if lock else ""),
        account,
        user,
    )
    return _invitation(row) if row else None


async def by_prefix(conn: Conn, prefix: str, *, lock: bool = False) -> Invitation | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM invitations WHERE prefix = $1" + (" FOR UPDATE" if lock else ""),
        prefix,
    )
    return _invitation(row) if row else None


async def page(
    conn: Conn, account: str, states: tuple[State, ...], now: datetime, after: str, limit: int
) -> list[Invitation]:
    """One page of the account's invitations in the given states (all when empty), by user."""
    condition = ""
    if states:
        condition = " AND (" + " OR ".join(f"({_STATE_SQL[s]})" for s in states) + ")"
    # The moment is a parameter only when a condition names it (PostgreSQL refuses unused ones).
    moment = (now,) if "${n}" in condition else ()
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM invitations WHERE account = $1 AND user_identifier > $2"
        f"{condition.replace('${n}', '$4')} ORDER BY user_identifier LIMIT $3",
        account,
        after,
        limit,
        *moment,
    )
    return [_invitation(r) for r in rows]


async def due(conn: Conn, now: datetime, limit: int, *, lock: bool = False) -> list[Invitation]:
    """Open invitations past their expiry whose expiry is not recorded yet."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM invitations WHERE accepted_at IS NULL AND revoked_at IS NULL"
        " AND expired_at IS NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
        + (" FOR UPDATE SKIP LOCKED" if lock else ""),
        now,
        limit,
    )
    return [_invitation(r) for r in rows]

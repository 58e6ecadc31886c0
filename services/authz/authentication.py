"""Who is calling: the bearer token of every RPC, checked against the stored token hashes.

Lookups are cached for a few seconds per token prefix; a revoke or rotate in this replica drops
the entry at once, other replicas notice within the cache time. Every failure is the same
Unauthenticated, so that a caller learns nothing about why."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from libs.runtime.call_origin import bearer_token
from services.authz.domain import tokens
from services.authz.domain.audit import Caller
from services.authz.domain.entities import PRINCIPAL_OF_KIND
from services.authz.domain.errors import Unauthenticated
from services.authz.metrics import AUTH_RESULTS
from services.authz.store.connections import Connections
from services.authz.store.repository import token_record


@dataclass(frozen=True)
class _Entry:
    secret_hash: bytes
    caller: Caller | None  # None: the token can never authenticate (revoked, owner gone)
    expires_at: datetime | None
    fetched: float


class Authenticator:
    def __init__(self, db: Connections, cache_s: float = 5.0) -> None:
        self.db = db
        self.cache_s = cache_s
        self._cache: dict[str, _Entry] = {}
        # Counts forgets: a lookup that a forget overtook does not cache what it read before.
        self._forgets = 0

    def forget(self, prefixes: list[str]) -> None:
        self._forgets += 1
        for prefix in prefixes:
            self._cache.pop(prefix, None)

    async def _entry(self, prefix: str) -> _Entry | None:
        entry = self._cache.get(prefix)
        if entry is not None and time.monotonic() - entry.fetched < self.cache_s:
            return entry
        forgets = self._forgets
        async with self.db.acquire() as conn:
            row = await token_record(conn, prefix)
        if row is None:
            return None
        live = row["revoked_at"] is None and row["owner_exists"]
        caller = Caller(
            PRINCIPAL_OF_KIND[row["owner_kind"]],
            row["owner_identifier"],
            row["owner_scope"],
            row["owner_email"] or "",
        )
        entry = _Entry(
            bytes(row["secret_hash"]), caller if live else None, row["expires_at"], time.monotonic()
        )
        if forgets == self._forgets:
            self._cache[prefix] = entry
        return entry

    async def authenticate(self, authorization: str) -> Caller:
        token = bearer_token(authorization)
        parsed = tokens.parse(token) if token else None
        if parsed is None:
            return _refused("malformed")
        prefix, secret = parsed
        entry = await self._entry(prefix)
        if entry is None:
            return _refused("unknown_key")
        if not tokens.secret_matches(secret, entry.secret_hash):
            return _refused("wrong_secret")
        if entry.caller is None:
            return _refused("revoked")
        if entry.expires_at and entry.expires_at <= datetime.now(UTC):
            return _refused("expired")
        AUTH_RESULTS["accepted"].inc()
        return entry.caller


def _refused(result: str) -> NoReturn:
    """Counted by its reason; the caller learns only UNAUTHENTICATED."""
    AUTH_RESULTS[result].inc()
    raise Unauthenticated()

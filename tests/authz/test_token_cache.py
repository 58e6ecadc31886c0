"""The token cache of a replica: a forget (a disabled or deleted owner, a revoked key) that
lands while a lookup of that token is in flight is not undone by the lookup caching what it
read before the change. Unit: the store is a stub, the interleaving is forced."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.authz import authentication
from services.authz.authentication import Authenticator
from services.authz.domain import tokens
from services.authz.domain.errors import Unauthenticated


class _Db:
    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        yield None


def _row(issued: tokens.NewToken, *, live: bool) -> dict[str, Any]:
    return {
        "secret_hash": issued.secret_hash,
        "expires_at": None,
        "revoked_at": None,
        "owner_kind": "user",
        "owner_scope": "a",
        "owner_identifier": "bob",
        "owner_email": "",
        "owner_exists": live,
    }


async def test_a_forget_during_a_lookup_is_not_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    issued = tokens.new_token()
    rows = [_row(issued, live=True)]
    reading, read = asyncio.Event(), asyncio.Event()

    async def token_record(conn: Any, prefix: str) -> dict[str, Any]:
        row = rows[0]  # what the database held when the lookup read it
        reading.set()
        await read.wait()
        return row

    monkeypatch.setattr(authentication, "token_record", token_record)
    authenticator = Authenticator(_Db(), cache_s=3600.0)  # type: ignore[arg-type]
    header = f"Bearer {issued.token}"
    lookup = asyncio.create_task(authenticator.authenticate(header))
    await reading.wait()
    rows[0] = _row(issued, live=False)  # the owner is disabled and that commits...
    authenticator.forget([issued.prefix])  # ...and this replica forgets the token
    read.set()
    assert (await lookup).identifier == "bob"  # begun before: may answer what it read
    reading.clear()
    read.set()
    with pytest.raises(Unauthenticated):
        await authenticator.authenticate(header)

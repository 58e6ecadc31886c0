"""Get one entity, list a scope's entities a page at a time (managed ones included)."""

from __future__ import annotations

import base64
import binascii
import json

from services.authz.domain import scopes, validation
from services.authz.domain.audit import CallInfo
from services.authz.domain.entities import Stored
from services.authz.domain.errors import InvalidArgument
from services.authz.management.lookup import check_key, fetch, managed_in_scope
from services.authz.management.operation_access import OperationAccess
from services.authz.management.transaction import AtRevision
from services.authz.policy_state import PolicyState
from services.authz.store.connections import Connections
from services.authz.store.repository import Tx


def encode_page_token(listing: str, scope: str, after: str) -> str:
    raw = json.dumps({"k": listing, "s": scope, "a": after}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_page_token(token: str, listing: str, scope: str) -> str:
    """Where the page starts; InvalidArgument for a token of another listing or scope."""
    if not token:
        return ""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["k"] != listing or data["s"] != scope or not isinstance(data["a"], str):
            raise ValueError
        return str(data["a"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument("page_token", "malformed or from another listing") from None


class Reads:
    def __init__(self, db: Connections, access: OperationAccess, state: PolicyState) -> None:
        self.db = db
        self.access = access
        self.state = state

    async def get(self, kind: str, scope: str, identifier: str, call: CallInfo) -> AtRevision:
        check_key(kind, scope, identifier)
        await self.access.authorize(call, kind, "read", scope, identifier)
        async with self.db.acquire() as conn:
            stored = await fetch(Tx(conn), kind, scope, identifier)
        return AtRevision(stored, self.state.revision)

    async def find(
        self, kind: str, scope: str, field: str, value: str, limit: int, call: CallInfo
    ) -> list[Stored]:
        """The scope's entities whose `field` equals `value` ignoring case (store/repository.py
        LOOKUP_FIELDS), authorized like a listing."""
        scopes.check_scope(scope, "scope")
        validation.text(value, field)
        await self.access.authorize(call, kind, "read", scope)
        async with self.db.acquire() as conn:
            return await Tx(conn).find(kind, scope, field, value, limit)

    async def list(
        self, kind: str, scope: str, page_size: int, page_token: str, call: CallInfo
    ) -> tuple[list[Stored], str]:
        if kind == "permission":
            if scope:
                raise InvalidArgument("scope", "permissions are global: leave the scope empty")
        else:
            scopes.check_scope(scope, "scope")
        size = validation.page_size(page_size)
        after = decode_page_token(page_token, kind, scope)
        await self.access.authorize(call, kind, "read", scope)
        async with self.db.acquire() as conn:
            rows = await Tx(conn).list_page(kind, scope, after, size + 1)
        extra = [Stored(m, 0) for m in managed_in_scope(kind, scope) if m.identifier > after]
        page = sorted([*rows, *extra], key=lambda s: str(s.entity.identifier))
        if len(page) <= size:
            return page, ""
        page = page[:size]
        return page, encode_page_token(kind, scope, page[-1].entity.identifier)

"""API keys of users and service accounts: create, list, rotate, revoke. A token's secret leaves
only in the response that creates it; the store and the events keep its prefix and a hash."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.authz.domain import guards, scopes, tokens, validation
from services.authz.domain.audit import CallInfo, Change
from services.authz.domain.entities import ApiKey, PrincipalRef, Stored
from services.authz.domain.errors import FailedPrecondition, InvalidArgument
from services.authz.management import Changes, Management, Written, change_of
from services.authz.store.repository import Tx

OWNER_KINDS = {"USER": "user", "SERVICE_ACCOUNT": "service_account"}


@dataclass(frozen=True)
class IssuedToken:
    written: Written
    token: str


def owner_of(owner: PrincipalRef, scope: str) -> PrincipalRef:
    if owner.type not in OWNER_KINDS:
        raise InvalidArgument("api_key.owner.type", "API keys belong to users or service accounts")
    scopes.check_scope(scope, "api_key.scope")
    resolved = validation.principal(owner, scope, "api_key.owner")
    if owner.type == "SERVICE_ACCOUNT" and resolved.scope != scope:
        raise InvalidArgument("api_key.scope", "give the service account's own scope")
    if owner.type == "USER" and scopes.level(scope) != "account":
        raise InvalidArgument("api_key.scope", "a user's keys live in its account")
    return resolved


def as_utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


class ApiKeys:
    def __init__(self, management: Management, forget: Callable[[list[str]], None]) -> None:
        self.m = management
        self.forget = forget  # drops revoked tokens from the authentication cache

    async def authorize(self, call: CallInfo, owner: PrincipalRef) -> None:
        """A principal manages its own keys; others need the permission on the owner."""
        caller = call.caller
        if (caller.type, caller.identifier, caller.scope) == (
            owner.type,
            owner.identifier,
            owner.scope,
        ):
            return
        if owner.type == "SERVICE_ACCOUNT":
            await self.m.guard.require(
                call, guards.SERVICE_ACCOUNT_KEYS, owner.scope, "api_key", owner.identifier
            )
        else:
            await self.m.guard.require(
                call, guards.USER_KEYS, owner.scope, "api_key", owner.identifier
            )

    async def create(self, key: ApiKey, call: CallInfo, expires_at: datetime | None) -> IssuedToken:
        owner = owner_of(key.owner, key.scope)
        scopes.check_identifier(key.identifier, "api_key.identifier")
        if len(key.name) > validation.MAX_NAME:
            raise InvalidArgument("api_key.name", f"longer than {validation.MAX_NAME} characters")
        now = datetime.now(UTC)
        expiry = as_utc(expires_at)
        if expiry is not None and expiry <= now:
            raise InvalidArgument("api_key.expires_at", "must be in the future")
        await self.authorize(call, owner)
        issued = tokens.new_token()
        api_key = dataclasses.replace(
            key,
            owner=owner,
            created_at=now.isoformat(),
            expires_at=expiry.isoformat() if expiry else None,
            revoked=False,
            token_prefixes=(issued.prefix,),
        )

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Written, Change]:
            await self.m.require(tx, OWNER_KINDS[owner.type], owner.scope, owner.identifier)
            await tx.insert(api_key, revision)
            stored = Stored(api_key, revision)
            await tx.insert_token(
                issued.prefix,
                stored,
                OWNER_KINDS[owner.type],
                issued.secret_hash,
                expiry,
            )
            return Written(stored, revision), change_of("CREATE", api_key, None, api_key)

        return IssuedToken(await self.m.write(op, call), issued.token)

    async def list(self, owner: PrincipalRef, scope: str, call: CallInfo) -> list[Stored]:
        resolved = owner_of(owner, scope)
        await self.authorize(call, resolved)
        async with self.m.pool.acquire() as conn:
            return await Tx(conn).api_keys_of(
                OWNER_KINDS[resolved.type], scope, resolved.identifier
            )

    async def _load(self, tx: Tx, scope: str, identifier: str, call: CallInfo) -> ApiKey:
        stored = await self.m.require(tx, "api_key", scope, identifier)
        key: ApiKey = stored.entity
        await self.authorize(call, key.owner)
        if key.revoked:
            raise FailedPrecondition(f"API key {identifier!r} is revoked")
        return key

    async def rotate(
        self, scope: str, identifier: str, expires_at: datetime | None, call: CallInfo
    ) -> IssuedToken:
        scopes.check_scope(scope, "scope")
        scopes.check_identifier(identifier, "identifier")
        issued = tokens.new_token()
        revoked: list[str] = []

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Written, Change]:
            key = await self._load(tx, scope, identifier, call)
            revoked.extend(await tx.revoke_tokens(scope, identifier))
            expiry = as_utc(expires_at) or (
                datetime.fromisoformat(key.expires_at) if key.expires_at else None
            )
            new = dataclasses.replace(key, token_prefixes=(issued.prefix,))
            await tx.update(new, revision)
            await tx.insert_token(
                issued.prefix,
                Stored(new, revision),
                OWNER_KINDS[key.owner.type],
                issued.secret_hash,
                expiry,
            )
            return Written(Stored(new, revision), revision), change_of("ROTATE", new, key, new)

        written = await self.m.write(op, call)
        self.forget(revoked)
        return IssuedToken(written, issued.token)

    async def revoke(self, scope: str, identifier: str, call: CallInfo) -> Written:
        scopes.check_scope(scope, "scope")
        scopes.check_identifier(identifier, "identifier")
        revoked: list[str] = []

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Written, Change]:
            key = await self._load(tx, scope, identifier, call)
            revoked.extend(await tx.revoke_tokens(scope, identifier))
            new = dataclasses.replace(key, revoked=True, token_prefixes=())
            await tx.update(new, revision)
            return Written(Stored(new, revision), revision), change_of("REVOKE", new, key, new)

        written = await self.m.write(op, call)
        self.forget(revoked)
        return written

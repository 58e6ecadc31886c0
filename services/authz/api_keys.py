"""API keys of users and service accounts: create, list, rotate, revoke. A token's secret leaves
only in the response that creates it; the store keeps its prefix and a hash (events mask the
prefix too).

Who may (DESIGN section 6): a principal manages its own keys. A service account's keys need
core_serviceaccount_manageapikey on it. Nobody issues (creates or rotates) a key owned by another
user; listing and revoking another user's keys (offboarding) needs core_user_manage. The caller
is authorized before anything is looked up in a way it could tell apart: a key that does not
exist and a key the caller may not touch get the same PERMISSION_DENIED, unless the caller may
manage every key of that scope (then NOT_FOUND)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from services.authz.domain import scopes, tokens, validation
from services.authz.domain.audit import CallInfo, Change
from services.authz.domain.entities import KIND_OF_PRINCIPAL, ApiKey, PrincipalRef, Stored
from services.authz.domain.errors import (
    Denial,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.authz.domain.required_permissions import SERVICE_ACCOUNT_KEYS, USER_KEYS
from services.authz.guard import Guard
from services.authz.management import AtRevision, Changes, Writer, change_of, fetch
from services.authz.store.repository import Tx

OWNER_TYPES = ("USER", "SERVICE_ACCOUNT")  # who may own keys


@dataclass(frozen=True)
class IssuedToken:
    key: AtRevision
    token: str


def owner_of(owner: PrincipalRef, scope: str) -> PrincipalRef:
    if owner.type not in OWNER_TYPES:
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


Issuing = bool  # True: the operation hands out a new token (create, rotate)


def same_principal(call: CallInfo, owner: PrincipalRef) -> bool:
    c = call.caller
    return (c.type, c.identifier, c.scope) == (owner.type, owner.identifier, owner.scope)


class ApiKeys:
    def __init__(self, writer: Writer, guard: Guard, forget: Callable[[list[str]], None]) -> None:
        self.writer = writer
        self.guard = guard
        self.forget = forget  # drops revoked tokens from the authentication cache

    def _permitted(self, call: CallInfo, owner: PrincipalRef, issuing: Issuing) -> Denial | None:
        """None when the caller may manage the owner's keys, else what it lacks."""
        if same_principal(call, owner) or call.caller.type == "SYSTEM":
            return None
        if owner.type == "SERVICE_ACCOUNT":
            permission = SERVICE_ACCOUNT_KEYS
            if self.guard.allowed(call, permission, owner.scope, owner.identifier):
                return None
            return Denial(permission, owner.scope, "api_key", owner.identifier)
        if not issuing and self.guard.allowed(call, USER_KEYS, owner.scope, owner.identifier):
            return None
        detail = "nobody issues keys owned by another user" if issuing else ""
        return Denial(USER_KEYS, owner.scope, "api_key", owner.identifier, detail)

    async def _deny(self, call: CallInfo, denial: Denial, message: str) -> NoReturn:
        denied = PermissionDenied(message, denial)
        await self.guard.record(call, denied)
        raise denied

    async def authorize(self, call: CallInfo, owner: PrincipalRef, issuing: Issuing) -> None:
        denial = self._permitted(call, owner, issuing)
        if denial is not None:
            message = denial.detail or f"the caller lacks {denial.permission} in {owner.scope!r}"
            await self._deny(call, denial, message)

    async def _authorize_key(
        self, call: CallInfo, scope: str, identifier: str, issuing: Issuing
    ) -> None:
        """Authorize an operation on an existing key, answering alike for a key that is not
        there and one the caller may not touch (NOT_FOUND, or the precise reason, only for a
        caller who may manage every key of the scope)."""
        async with self.writer.db.acquire() as conn:
            stored = await Tx(conn).get("api_key", scope, identifier)
        denial = self._permitted(call, stored.entity.owner, issuing) if stored else None
        if stored is not None and denial is None:
            return
        manages_all = self.guard.allowed(call, SERVICE_ACCOUNT_KEYS, scope) or (
            not issuing and self.guard.allowed(call, USER_KEYS, scope)
        )
        if manages_all and denial is None:
            raise NotFound(f"API key {identifier!r} does not exist in {scope!r}")
        if manages_all and denial is not None:
            await self._deny(call, denial, denial.detail or f"the caller lacks {denial.permission}")
        uniform = denial or Denial(SERVICE_ACCOUNT_KEYS, scope, "api_key", identifier)
        await self._deny(
            call, uniform, f"the caller may not manage API key {identifier!r} in {scope!r}"
        )

    async def create(self, key: ApiKey, call: CallInfo, expires_at: datetime | None) -> IssuedToken:
        owner = owner_of(key.owner, key.scope)
        scopes.check_identifier(key.identifier, "api_key.identifier")
        validation.text(key.name, "api_key.name")
        now = datetime.now(UTC)
        expiry = as_utc(expires_at)
        if expiry is not None and expiry <= now:
            raise InvalidArgument("api_key.expires_at", "must be in the future")
        await self.authorize(call, owner, issuing=True)
        issued = tokens.new_token()
        api_key = dataclasses.replace(
            key,
            owner=owner,
            created_at=now.isoformat(),
            expires_at=expiry.isoformat() if expiry else None,
            revoked=False,
            token_prefixes=(issued.prefix,),
        )

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[AtRevision, Change]:
            await fetch(tx, KIND_OF_PRINCIPAL[owner.type], owner.scope, owner.identifier)
            await tx.insert(api_key, revision)
            stored = Stored(api_key, revision)
            await tx.insert_token(
                issued.prefix,
                stored,
                KIND_OF_PRINCIPAL[owner.type],
                issued.secret_hash,
                expiry,
            )
            return AtRevision(stored, revision), change_of("CREATE", api_key, None, api_key)

        return IssuedToken(await self.writer.write(op, call), issued.token)

    async def list(self, owner: PrincipalRef, scope: str, call: CallInfo) -> list[Stored]:
        resolved = owner_of(owner, scope)
        await self.authorize(call, resolved, issuing=False)
        async with self.writer.db.acquire() as conn:
            return await Tx(conn).api_keys_of(
                KIND_OF_PRINCIPAL[resolved.type], scope, resolved.identifier
            )

    @staticmethod
    async def _load(tx: Tx, scope: str, identifier: str) -> ApiKey:
        stored = await tx.get("api_key", scope, identifier)
        if stored is None:  # deleted since it was authorized
            raise NotFound(f"API key {identifier!r} does not exist in {scope!r}")
        key: ApiKey = stored.entity
        if key.revoked:
            raise FailedPrecondition(f"API key {identifier!r} is revoked")
        return key

    async def rotate(
        self, scope: str, identifier: str, expires_at: datetime | None, call: CallInfo
    ) -> IssuedToken:
        scopes.check_scope(scope, "scope")
        scopes.check_identifier(identifier, "identifier")
        now = datetime.now(UTC)
        new_expiry = as_utc(expires_at)
        if new_expiry is not None and new_expiry <= now:
            raise InvalidArgument("expires_at", "must be in the future")
        await self._authorize_key(call, scope, identifier, issuing=True)
        issued = tokens.new_token()
        revoked: list[str] = []

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[AtRevision, Change]:
            key = await self._load(tx, scope, identifier)
            expiry = datetime.fromisoformat(key.expires_at) if key.expires_at else None
            if expiry is not None and expiry <= now:
                raise FailedPrecondition(
                    f"API key {identifier!r} has expired: create a new key instead"
                )
            expiry = new_expiry or expiry
            revoked.extend(await tx.revoke_tokens(scope, identifier))
            new = dataclasses.replace(
                key,
                token_prefixes=(issued.prefix,),
                expires_at=expiry.isoformat() if expiry else None,
            )
            await tx.update(new, revision)
            await tx.insert_token(
                issued.prefix,
                Stored(new, revision),
                KIND_OF_PRINCIPAL[key.owner.type],
                issued.secret_hash,
                expiry,
            )
            return AtRevision(Stored(new, revision), revision), change_of("ROTATE", new, key, new)

        written = await self.writer.write(op, call)
        self.forget(revoked)
        return IssuedToken(written, issued.token)

    async def revoke(self, scope: str, identifier: str, call: CallInfo) -> AtRevision:
        scopes.check_scope(scope, "scope")
        scopes.check_identifier(identifier, "identifier")
        await self._authorize_key(call, scope, identifier, issuing=False)
        revoked: list[str] = []

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[AtRevision, Change]:
            key = await self._load(tx, scope, identifier)
            revoked.extend(await tx.revoke_tokens(scope, identifier))
            new = dataclasses.replace(key, revoked=True, token_prefixes=())
            await tx.update(new, revision)
            return AtRevision(Stored(new, revision), revision), change_of("REVOKE", new, key, new)

        written = await self.writer.write(op, call)
        self.forget(revoked)
        return written

"""Management commands: create, read, update, delete and list the RBAC entities.

Each write runs in one transaction: bump the revision (which serializes writers), check
references, write the entity, replace the Casbin lines it derives, log the line diff. After the
commit this replica catches up from the log, so a write is visible here when it returns.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.authz.domain import catalog, compile, guards, scopes, validation
from services.authz.domain.audit import SYSTEM_CALL, CallInfo, Change
from services.authz.domain.entities import (
    Entity,
    Permission,
    ResourceGroup,
    Role,
    RoleBinding,
    ServiceAccount,
    Stored,
    User,
    UserGroup,
    from_body,
    to_body,
)
from services.authz.domain.errors import (
    EtagMismatch,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.authz.domain.guards import Verb
from services.authz.domain.lines import PolicyLine
from services.authz.event_sink import EventSink
from services.authz.granting import Granting
from services.authz.guard import Guard, caller_subject
from services.authz.policy_state import PERMISSION, PolicyState
from services.authz.store.connections import Connections
from services.authz.store.repository import IdempotencyKey, Tx

T = TypeVar("T")
MANAGED_SOURCE = "managed"
# The permission registry is global: only a platform operator, bound in this reserved account
# (python -m services.authz bootstrap-operator), holds core_permission_manage there.
PLATFORM_SCOPE = "_platform"
MAX_REQUEST_ID = 128


@dataclass
class Changes:
    """The Casbin line diff of one write, logged for the replicas."""

    added: list[PolicyLine] = field(default_factory=list)
    removed: list[PolicyLine] = field(default_factory=list)

    def merge(self, diff: tuple[list[PolicyLine], list[PolicyLine]]) -> None:
        self.removed += diff[0]
        self.added += diff[1]


BINDING_ACTIONS = {
    "CREATE": "ROLE_ASSIGNMENT_CREATE",
    "UPDATE": "ROLE_ASSIGNMENT_UPDATE",
    "DELETE": "ROLE_ASSIGNMENT_DELETE",
}


def change_of(
    action: str, entity: Entity, old: Entity | None, new: Entity | None, **labels: str
) -> Change:
    if entity.kind == "role_binding":
        action = BINDING_ACTIONS.get(action, action)
    return Change(
        action,
        entity.kind,
        entity.scope,
        entity.identifier,
        to_body(old) if old is not None else None,
        to_body(new) if new is not None else None,
        labels,
    )


@dataclass(frozen=True)
class Written:
    stored: Stored
    revision: int


class _Unchanged(Exception):
    """Nothing to write: roll back, so that no revision is spent."""


class _Replay(Exception):
    """A retried create: roll back and answer with the first call's response."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response


def managed(kind: str, scope: str, identifier: str) -> Entity | None:
    if kind == "role":
        return catalog.managed_role(identifier, scope)
    if kind == "resource_group":
        return catalog.managed_resource_group(identifier, scope)
    if kind == "permission":
        return next((p for p in catalog.SEEDED_PERMISSIONS if p.name == identifier), None)
    return None


def managed_in_scope(kind: str, scope: str) -> list[Entity]:
    if kind == "role":
        return list(catalog.managed_roles(scope))
    if kind == "resource_group":
        return list(catalog.managed_resource_groups(scope))
    if kind == "permission":
        return list(catalog.SEEDED_PERMISSIONS)
    return []


def check_key(kind: str, scope: str, identifier: str) -> None:
    if kind == "permission":
        if scope:
            raise InvalidArgument("scope", "permissions are global: leave the scope empty")
        if not catalog.PERMISSION_NAME.fullmatch(identifier):
            raise InvalidArgument("identifier", f"{identifier!r} is not a permission name")
        return
    scopes.check_scope(scope, "scope")
    if kind == "user" and scopes.level(scope) != "account":
        raise InvalidArgument("scope", "users are account-level: give the account")
    scopes.check_identifier(identifier, "identifier")


def encode_page_token(kind: str, scope: str, after: str) -> str:
    raw = json.dumps({"k": kind, "s": scope, "a": after}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_page_token(token: str, kind: str, scope: str) -> str:
    if not token:
        return ""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["k"] != kind or data["s"] != scope or not isinstance(data["a"], str):
            raise ValueError
        return str(data["a"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument("page_token", "malformed or from another listing") from None


def idempotency_key(call: CallInfo, method: str, scope: str, request_id: str) -> IdempotencyKey:
    """A request id belongs to its caller and the account written: never shared across them."""
    caller = "system" if call.caller.type == "SYSTEM" else caller_subject(call)
    return IdempotencyKey(caller, scopes.account(scope) if scope else "", method, request_id)


def check_request_id(request_id: str) -> None:
    if request_id:
        validation.text(request_id, "request_id", MAX_REQUEST_ID)


class Management:
    def __init__(
        self, db: Connections, state: PolicyState, events: EventSink, guard: Guard
    ) -> None:
        self.db = db
        self.state = state
        self.events = events
        self.guard = guard
        self.granting = Granting(state, self.require)
        # Tokens revoked by a write here are dropped from this replica's authentication cache.
        self.forget_tokens: Callable[[list[str]], None] = lambda _: None

    async def authorize(
        self, call: CallInfo, kind: str, verb: Verb, scope: str, identifier: str = ""
    ) -> None:
        """The caller needs the operation's permission at the entity's scope (the registry,
        being global, asks for it at the caller's own account)."""
        permission = guards.PERMISSIONS[(kind, verb)]
        if permission is None:
            return
        if kind == "permission":
            scope = PLATFORM_SCOPE
        await self.guard.require(call, permission, scope, kind, identifier)

    # ------------------------------------------------------------------ plumbing

    async def write(
        self, op: Callable[[Tx, int, Changes], Awaitable[tuple[T, Change | None]]], call: CallInfo
    ) -> T:
        """Run one write in one transaction: the entity, its lines, the log and its event. Once
        the revision lock is held, this replica catches up, so that checks made inside the
        write (delegation) see every earlier write. A denial inside the write is recorded after
        the rollback, on the same connection: no lock is held while waiting for another."""
        async with self.db.acquire() as conn:
            try:
                async with conn.transaction():
                    tx = Tx(conn)
                    revision = await tx.bump_revision()
                    await self.state.catch_up(conn)
                    changes = Changes()
                    result, change = await op(tx, revision, changes)
                    await tx.log_change(revision, changes.added, changes.removed)
                    if change is not None:
                        await self.events.record(conn, change, revision, call)
            except PermissionDenied as denied:
                await self.guard.record(call, denied, conn)
                raise
            await self.state.catch_up(conn)
        return result

    async def _require_grantable(
        self, tx: Tx, call: CallInfo, new: Entity, old: Entity | None
    ) -> None:
        self.granting.require_held(call, await self.granting.granted_by(tx, new, old), new)

    def validate(self, entity: Entity) -> Entity:
        if isinstance(entity, User):
            return validation.user(entity)
        if isinstance(entity, UserGroup):
            return validation.user_group(entity)
        if isinstance(entity, Role):
            return validation.role(entity, self.state.permissions)
        if isinstance(entity, ResourceGroup):
            return validation.resource_group(entity, self.state.resource_types)
        if isinstance(entity, RoleBinding):
            return validation.role_binding(entity)
        if isinstance(entity, Permission):
            return validation.permission(entity)
        if isinstance(entity, ServiceAccount):
            return validation.service_account(entity)
        raise TypeError(f"not a managed entity: {entity!r}")

    async def require(self, tx: Tx, kind: str, scope: str, identifier: str) -> Stored:
        if (m := managed(kind, scope, identifier)) is not None:
            return Stored(m, 0)
        stored = await tx.get(kind, scope, identifier)
        if stored is None:
            what = kind.replace("_", " ")
            raise NotFound(f"{what} {identifier!r} does not exist in {scope or 'the registry'!r}")
        return stored

    async def _check_references(self, tx: Tx, entity: Entity) -> None:
        if isinstance(entity, UserGroup):
            for member in entity.members:
                await self.require(tx, "user", scopes.account(entity.scope), member)
        elif isinstance(entity, RoleBinding):
            await self.require(tx, "role", entity.role_scope, entity.role)
            await self.require(tx, "resource_group", entity.scope, entity.resource_group)
            p = entity.principal
            kind = {"USER": "user", "USER_GROUP": "user_group"}.get(p.type, "service_account")
            await self.require(tx, kind, p.scope, p.identifier)

    async def _recompile(self, tx: Tx, entity: Entity, changes: Changes) -> None:
        source = compile.source_of(entity.kind, entity.scope, entity.identifier)
        if isinstance(entity, Role):
            changes.merge(await tx.replace_lines(source, compile.role_lines(entity)))
        elif isinstance(entity, UserGroup):
            changes.merge(await tx.replace_lines(source, compile.group_lines(entity)))
        elif isinstance(entity, RoleBinding):
            group = (
                await self.require(tx, "resource_group", entity.scope, entity.resource_group)
            ).entity
            changes.merge(await tx.replace_lines(source, compile.binding_lines(entity, group)))
        elif isinstance(entity, ResourceGroup):
            for b in await tx.bindings_using_resource_group(entity.scope, entity.identifier):
                await self._recompile(tx, b.entity, changes)
        elif isinstance(entity, Permission):
            changes.added.append(PolicyLine(PERMISSION, (entity.name,)))

    async def _drop(self, tx: Tx, entity: Entity, changes: Changes) -> None:
        await tx.delete(entity.kind, entity.scope, entity.identifier)
        if isinstance(entity, Permission):
            changes.removed.append(PolicyLine(PERMISSION, (entity.name,)))
        else:
            source = compile.source_of(entity.kind, entity.scope, entity.identifier)
            changes.merge(await tx.replace_lines(source, []))

    @staticmethod
    def _match_etag(stored: Stored, etag: str) -> None:
        if etag and etag != str(stored.etag):
            raise EtagMismatch(
                f"etag {etag!r} does not match the current {stored.etag!r}: read it again"
            )

    @staticmethod
    def _refuse_managed(kind: str, scope: str, identifier: str) -> None:
        if managed(kind, scope, identifier) is not None:
            raise FailedPrecondition(f"{identifier!r} is managed: it cannot be edited or deleted")

    # ------------------------------------------------------------------ commands

    async def sync_managed_lines(self) -> None:
        """Store the managed roles' g2 lines (defined in code) in casbin_rule, so that the table
        holds the whole policy; a write only when the catalog changed."""

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[None, None]:
            changes.merge(await tx.replace_lines(MANAGED_SOURCE, compile.managed_role_lines()))
            if not changes.added and not changes.removed:
                raise _Unchanged
            return None, None  # start-up housekeeping, not a call: no audit event

        with contextlib.suppress(_Unchanged):
            await self.write(op, SYSTEM_CALL)

    async def create(self, entity: Entity, call: CallInfo, request_id: str = "") -> Written:
        entity = self.validate(entity)
        check_request_id(request_id)
        await self.authorize(call, entity.kind, "write", entity.scope, entity.identifier)
        key = idempotency_key(call, f"create:{entity.kind}", entity.scope, request_id)

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Written, Change]:
            if request_id and (previous := await tx.remembered_response(key)):
                raise _Replay(previous)
            if managed(entity.kind, entity.scope, entity.identifier) is not None:
                raise FailedPrecondition(f"{entity.identifier!r} is managed and exists already")
            await self._check_references(tx, entity)
            await self._require_grantable(tx, call, entity, None)
            await tx.insert(entity, revision)
            await self._recompile(tx, entity, changes)
            if request_id:
                response = {"kind": entity.kind, "body": to_body(entity), "revision": revision}
                await tx.remember_response(key, response)
            return Written(Stored(entity, revision), revision), change_of(
                "CREATE", entity, None, entity
            )

        try:
            return await self.write(op, call)
        except _Replay as replay:
            r = replay.response
            return Written(Stored(from_body(r["kind"], r["body"]), r["revision"]), r["revision"])

    async def update(self, entity: Entity, etag: str, call: CallInfo) -> Written:
        self._refuse_managed(entity.kind, entity.scope, entity.identifier)
        entity = self.validate(entity)
        await self.authorize(call, entity.kind, "write", entity.scope, entity.identifier)

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Written, Change]:
            old = await self.require(tx, entity.kind, entity.scope, entity.identifier)
            self._match_etag(old, etag)
            await self._check_references(tx, entity)
            await self._require_grantable(tx, call, entity, old.entity)
            await tx.update(entity, revision)
            await self._recompile(tx, entity, changes)
            change = change_of("UPDATE", entity, old.entity, entity)
            return Written(Stored(entity, revision), revision), change

        return await self.write(op, call)

    async def change_members(
        self, scope: str, identifier: str, user: str, etag: str, call: CallInfo, *, add: bool
    ) -> Written:
        check_key("user_group", scope, identifier)
        scopes.check_identifier(user, "user")
        await self.authorize(call, "user_group", "write", scope, identifier)

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Written, Change]:
            stored = await self.require(tx, "user_group", scope, identifier)
            self._match_etag(stored, etag)
            group: UserGroup = stored.entity
            members = set(group.members)
            if add:
                await self.require(tx, "user", scopes.account(scope), user)
                members.add(user)
                validation.bounded(tuple(members), "user_group.members", validation.MAX_MEMBERS)
            elif user not in members:
                raise NotFound(f"user {user!r} is not a member of {identifier!r}")
            else:
                members.discard(user)
            new = dataclasses.replace(group, members=tuple(sorted(members)))
            await self._require_grantable(tx, call, new, group)
            await tx.update(new, revision)
            await self._recompile(tx, new, changes)
            action = "ADD_MEMBER" if add else "REMOVE_MEMBER"
            change = change_of(action, new, group, new, member=user)
            return Written(Stored(new, revision), revision), change

        return await self.write(op, call)

    async def delete(
        self,
        kind: str,
        scope: str,
        identifier: str,
        call: CallInfo,
        etag: str = "",
        cascade: bool = False,
    ) -> int:
        check_key(kind, scope, identifier)
        self._refuse_managed(kind, scope, identifier)
        await self.authorize(call, kind, "delete", scope, identifier)

        revoked: list[str] = []

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[int, Change]:
            stored = await self.require(tx, kind, scope, identifier)
            self._match_etag(stored, etag)
            released = await self._release_dependents(tx, stored.entity, cascade, revision, changes)
            await self._drop(tx, stored.entity, changes)
            if kind in ("user", "service_account"):
                # Its keys go with it: a principal created later under the same identifier
                # must not inherit working tokens.
                revoked.extend(await tx.revoke_tokens_of_owner(kind, scope, identifier))
                await tx.delete_api_keys_of(kind, scope, identifier)
            labels = {"cascaded": ",".join(released)} if released else {}
            if revoked:
                labels["revoked_tokens"] = str(len(revoked))
            return revision, change_of("DELETE", stored.entity, stored.entity, None, **labels)

        revision = await self.write(op, call)
        self.forget_tokens(revoked)
        return revision

    async def _release_dependents(
        self, tx: Tx, entity: Entity, cascade: bool, revision: int, changes: Changes
    ) -> list[str]:
        """Refuse to delete what bindings (or groups, or roles) still use, unless cascading;
        return what the cascade changed."""
        groups: list[Stored] = []
        if isinstance(entity, Role):
            bindings = await tx.bindings_using_role(entity.scope, entity.identifier)
        elif isinstance(entity, ResourceGroup):
            bindings = await tx.bindings_using_resource_group(entity.scope, entity.identifier)
        elif isinstance(entity, User):
            bindings = await tx.bindings_of_principal("USER", entity.account, entity.identifier)
            groups = await tx.groups_with_member(entity.account, entity.identifier)
        elif isinstance(entity, UserGroup):
            bindings = await tx.bindings_of_principal("USER_GROUP", entity.scope, entity.identifier)
        elif isinstance(entity, Permission):
            roles = await tx.roles_with_permission(entity.name)
            if roles:
                names = ", ".join(f"{r.entity.scope}/{r.entity.identifier}" for r in roles[:5])
                raise FailedPrecondition(f"roles still hold {entity.name!r}: {names}")
            return []
        elif isinstance(entity, RoleBinding):
            return []
        else:
            bindings = await tx.bindings_of_principal(
                "SERVICE_ACCOUNT", entity.scope, entity.identifier
            )
        used_by = [f"role binding {b.entity.scope}/{b.entity.identifier}" for b in bindings]
        used_by += [f"user group {g.entity.scope}/{g.entity.identifier}" for g in groups]
        if used_by and not cascade:
            raise FailedPrecondition(
                f"still used by {len(used_by)}: {', '.join(used_by[:5])}; delete with cascade"
            )
        for b in bindings:
            await self._drop(tx, b.entity, changes)
        for g in groups:
            group: UserGroup = g.entity
            pruned = dataclasses.replace(
                group, members=tuple(m for m in group.members if m != entity.identifier)
            )
            await tx.update(pruned, revision)
            await self._recompile(tx, pruned, changes)
        return used_by

    # ------------------------------------------------------------------ reads

    async def get(self, kind: str, scope: str, identifier: str, call: CallInfo) -> Written:
        check_key(kind, scope, identifier)
        await self.authorize(call, kind, "read", scope, identifier)
        async with self.db.acquire() as conn:
            stored = await self.require(Tx(conn), kind, scope, identifier)
        return Written(stored, self.state.revision)

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
        await self.authorize(call, kind, "read", scope)
        async with self.db.acquire() as conn:
            rows = await Tx(conn).list_page(kind, scope, after, size + 1)
        extra = [Stored(m, 0) for m in managed_in_scope(kind, scope) if m.identifier > after]
        page = sorted([*rows, *extra], key=lambda s: str(s.entity.identifier))
        if len(page) <= size:
            return page, ""
        page = page[:size]
        return page, encode_page_token(kind, scope, page[-1].entity.identifier)

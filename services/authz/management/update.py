"""Replace an entity (etag-checked), and add or remove one member of a user group. Disabling a
user (state DISABLED) drops the lines its bindings and memberships derive, and its tokens stop
authenticating; enabling it derives them again."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from services.authz.domain import scopes, user_states, validation
from services.authz.domain.audit import CallInfo, Change
from services.authz.domain.entities import Entity, Stored, User, UserGroup
from services.authz.domain.errors import NotFound
from services.authz.granting import Granting
from services.authz.management.derivation import (
    check_references,
    derive_grants_of,
    derive_lines,
)
from services.authz.management.lookup import check_key, fetch, match_etag, refuse_managed
from services.authz.management.operation_access import OperationAccess
from services.authz.management.transaction import AtRevision, Changes, Writer, change_of
from services.authz.policy_state import PolicyState
from services.authz.store.repository import Tx


@dataclass(frozen=True)
class Update:
    writer: Writer
    access: OperationAccess
    granting: Granting
    state: PolicyState  # the registry and resource types that validation knows
    # drops a disabled user's tokens from this replica's cache (others: within its lifetime)
    forget_tokens: Callable[[list[str]], None] = field(default=lambda _: None)

    async def __call__(self, entity: Entity, etag: str, call: CallInfo) -> AtRevision:
        refuse_managed(entity.kind, entity.scope, entity.identifier)
        entity = validation.entity(entity, self.state.permissions, self.state.resource_types)
        await self.access.authorize(call, entity.kind, "write", entity.scope, entity.identifier)

        forgotten: list[str] = []

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[AtRevision, Change]:
            old = await fetch(tx, entity.kind, entity.scope, entity.identifier)
            match_etag(old, etag)
            new = entity
            labels: dict[str, str] = {}
            if isinstance(new, User):
                new = user_states.updated(new, old.entity)
            elif isinstance(new, UserGroup):
                new = user_states.group_updated(new, old.entity)
            await check_references(tx, new)
            await self.granting.require_held_for(tx, call, new, old.entity)
            await tx.update(new, revision)
            await derive_lines(tx, new, changes)
            if isinstance(new, User) and new.state != old.entity.state:
                await derive_grants_of(tx, new, changes)
                forgotten.extend(
                    await tx.token_prefixes_of_owner("user", new.account, new.identifier)
                )
                labels["state"] = new.state
            change = change_of("UPDATE", new, old.entity, new, **labels)
            return AtRevision(Stored(new, revision), revision), change

        written = await self.writer.write(op, call)
        self.forget_tokens(forgotten)
        return written

    async def members(
        self, scope: str, identifier: str, user: str, etag: str, call: CallInfo, *, add: bool
    ) -> AtRevision:
        check_key("user_group", scope, identifier)
        scopes.check_identifier(user, "user")
        await self.access.authorize(call, "user_group", "write", scope, identifier)

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[AtRevision, Change]:
            stored = await fetch(tx, "user_group", scope, identifier)
            match_etag(stored, etag)
            group: UserGroup = stored.entity
            members = set(group.members)
            if add:
                await fetch(tx, "user", scopes.account(scope), user)
                members.add(user)
                validation.bounded(tuple(members), "user_group.members", validation.MAX_MEMBERS)
            elif user not in members:
                raise NotFound(f"user {user!r} is not a member of {identifier!r}")
            else:
                members.discard(user)
            new = dataclasses.replace(group, members=tuple(sorted(members)))
            await self.granting.require_held_for(tx, call, new, group)
            await tx.update(new, revision)
            await derive_lines(tx, new, changes)
            action = "ADD_MEMBER" if add else "REMOVE_MEMBER"
            change = change_of(action, new, group, new, member=user)
            return AtRevision(Stored(new, revision), revision), change

        return await self.writer.write(op, call)

"""Finding entities: the managed catalog first (it exists without being stored), then the
store; and the checks of a (kind, scope, identifier) key as the API gives it."""

from __future__ import annotations

from services.authz.domain import catalog, scopes
from services.authz.domain.entities import Entity, Stored
from services.authz.domain.errors import EtagMismatch, FailedPrecondition, InvalidArgument, NotFound
from services.authz.store.repository import Tx


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


async def fetch(tx: Tx, kind: str, scope: str, identifier: str) -> Stored:
    """The entity, or NotFound."""
    if (m := managed(kind, scope, identifier)) is not None:
        return Stored(m, 0)
    stored = await tx.get(kind, scope, identifier)
    if stored is None:
        what = kind.replace("_", " ")
        raise NotFound(f"{what} {identifier!r} does not exist in {scope or 'the registry'!r}")
    return stored


def match_etag(stored: Stored, etag: str) -> None:
    if etag and etag != str(stored.etag):
        raise EtagMismatch(
            f"etag {etag!r} does not match the current {stored.etag!r}: read it again"
        )


def refuse_managed(kind: str, scope: str, identifier: str) -> None:
    if managed(kind, scope, identifier) is not None:
        raise FailedPrecondition(f"{identifier!r} is managed: it cannot be edited or deleted")

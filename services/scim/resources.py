"""The SCIM operations on Users and Groups of one account, over authz's management commands
(services/authz/management): the same validation, RBAC (no escalation included), transaction
and one audit event per write as the gRPC API; the caller's CallInfo says module "scim"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import scim2_models as scim
from scim2_models.path.expressions import Comparison, FilterNode, LogicalExpr

from services.authz.domain.audit import CallInfo
from services.authz.domain.entities import Stored
from services.authz.domain.errors import EtagMismatch, NotFound
from services.authz.management import Management
from services.scim import mapping, patching
from services.scim.errors import error
from services.scim.identifiers import identifier_for

# A listing reads the account's users or groups a page at a time; SCIM pages are cut from that.
_STORE_PAGE = 1000
_SCAN_MAX = 1_000_000  # a lookup returns every match (an account's users, at most)
DEFAULT_COUNT = 100
MAX_COUNT = 1000
# The most operations in a PATCH (after Entra's value lists are split): each may be matched
# against every member, on the event loop that gRPC shares. A group's members at most.
MAX_OPERATIONS = 1000
# How often a PATCH without If-Match is re-applied when a concurrent write changed the entity.
_PATCH_ATTEMPTS = 3

T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    """What differs between Users and Groups."""

    name: str  # the authz entity kind
    model: Any  # the scim2-models class, and its messages:
    patch_op: Any
    search_request: Any
    response_parameters: Any
    list_response: Any
    to_resource: Callable[[Stored, str], Any]
    to_entity: Callable[[Any, str, str], Any]
    key_attribute: str  # the attribute an identifier is derived from on create
    lookups: dict[str, str]  # SCIM attribute (lower case) -> store lookup field (Reads.find)


_User: Any = mapping.USER_MODEL

USER = Kind(
    "user",
    _User,
    scim.PatchOp[_User],
    scim.SearchRequest[_User],
    scim.ResponseParameters[_User],
    scim.ListResponse[_User],
    mapping.user_resource,
    mapping.user_entity,
    "user_name",
    {"username": "user_name", "externalid": "external_id"},
)
GROUP = Kind(
    "user_group",
    scim.Group,
    scim.PatchOp[scim.Group],
    scim.SearchRequest[scim.Group],
    scim.ResponseParameters[scim.Group],
    scim.ListResponse[scim.Group],
    mapping.group_resource,
    mapping.group_entity,
    "display_name",
    {"displayname": "name", "externalid": "external_id"},
)


def _narrowing(node: FilterNode, kind: Kind) -> tuple[str, str] | None:
    """(lookup field, value) when the filter requires `attribute eq "value"` on an attribute
    the store looks up: Okta and Entra ask `userName eq` / `externalId eq` before each create,
    and scanning the account for each would make provisioning quadratic."""
    if isinstance(node, Comparison):
        path = node.attr_path
        field = kind.lookups.get(path.attr.lower()) if path.sub_attr is None else None
        if field and node.op == "eq" and isinstance(node.value, str):
            return field, node.value
        return None
    if isinstance(node, LogicalExpr) and node.op == "and":
        for term in node.terms:
            if (found := _narrowing(term, kind)) is not None:
                return found
    return None


class Resources:
    """The operations of one request: the account, the caller, the base URL of the account."""

    def __init__(self, management: Management, account: str, call: CallInfo, base_url: str):
        self.management = management
        self.account = account
        self.call = call
        self.base_url = base_url

    def resource(self, kind: Kind, stored: Stored) -> Any:
        return kind.to_resource(stored, self.base_url)

    async def get(self, kind: Kind, identifier: str) -> Any:
        found = await self.management.get(kind.name, self.account, identifier, self.call)
        return self.resource(kind, found.stored)

    async def create(self, kind: Kind, document: Any) -> Any:
        given = kind.model.model_validate(document, scim_ctx=scim.Context.RESOURCE_CREATION_REQUEST)
        key = getattr(given, kind.key_attribute) or ""
        if kind is USER:
            await self._unique_user_name(key)
        entity = kind.to_entity(given, self.account, identifier_for(key))
        created = await self._reference_errors(self.management.create(entity, self.call))
        return self.resource(kind, created.stored)

    async def replace(self, kind: Kind, identifier: str, document: Any, etag: str) -> Any:
        given = kind.model.model_validate(
            document, scim_ctx=scim.Context.RESOURCE_REPLACEMENT_REQUEST
        )
        await self.management.get(kind.name, self.account, identifier, self.call)  # 404 first
        entity = kind.to_entity(given, self.account, identifier)
        if kind is USER:
            await self._unique_user_name(entity.user_name, identifier)
        updated = await self._reference_errors(self.management.update(entity, etag, self.call))
        return self.resource(kind, updated.stored)

    async def patch(self, kind: Kind, identifier: str, document: Any, etag: str) -> Any:
        normalized = patching.normalized(document)
        operations = normalized.get("Operations") if isinstance(normalized, dict) else None
        if isinstance(operations, list) and len(operations) > MAX_OPERATIONS:
            raise error(400, f"more than {MAX_OPERATIONS} operations", "invalidValue")
        operation = kind.patch_op.model_validate(
            normalized, scim_ctx=scim.Context.RESOURCE_PATCH_REQUEST
        )
        steps: list[Any] = [operation]
        if kind is GROUP and isinstance(operations, list) and operations:
            steps = [
                run
                if isinstance(run, frozenset)
                else kind.patch_op.model_validate(
                    {**normalized, "Operations": run}, scim_ctx=scim.Context.RESOURCE_PATCH_REQUEST
                )
                for run in patching.runs(operations)
            ]
        for attempt in range(_PATCH_ATTEMPTS):
            current = await self.management.get(kind.name, self.account, identifier, self.call)
            resource = self.resource(kind, current.stored)
            before = kind.to_entity(resource, self.account, identifier)
            for step in steps:
                if isinstance(step, frozenset):  # member removals, as one set difference
                    resource.members = [m for m in resource.members or [] if m.value not in step]
                else:
                    step.patch(resource)
            entity = kind.to_entity(resource, self.account, identifier)
            if entity == before:  # nothing this service stores changed: no write, no event
                return self.resource(kind, current.stored)
            if kind is USER and entity.user_name != before.user_name:
                await self._unique_user_name(entity.user_name, identifier)
            expected = etag or str(current.stored.etag)
            try:
                updated = await self._reference_errors(
                    self.management.update(entity, expected, self.call)
                )
            except EtagMismatch:
                if etag or attempt == _PATCH_ATTEMPTS - 1:
                    raise
                continue  # changed since it was read: apply the operations again
            return self.resource(kind, updated.stored)
        raise AssertionError("unreachable")

    async def _unique_user_name(self, user_name: str | None, identifier: str = "") -> None:
        """userName is unique ignoring case (RFC 7643) on create and on every rename: 409 when
        a user other than `identifier` has it."""
        if not user_name:
            return
        clash = await self.management.reads.find(
            "user", self.account, "user_name", user_name, 2, self.call
        )
        if any(found.entity.identifier != identifier for found in clash):
            raise error(409, f"userName {user_name!r} is taken", "uniqueness")

    async def delete(self, kind: Kind, identifier: str, etag: str) -> None:
        # Cascade: a deprovisioned user leaves its groups and bindings, a group its bindings.
        await self.management.delete(
            kind.name, self.account, identifier, self.call, etag, cascade=True
        )

    async def search(self, kinds: tuple[Kind, ...], query: Any) -> tuple[list[Any], int]:
        """(the page, the total) of the filter over these kinds (the server root's search:
        both), ordered by kind then id; 1-based startIndex, count capped."""
        start = max(query.start_index or 1, 1)
        count = DEFAULT_COUNT if query.count is None else min(max(query.count, 0), MAX_COUNT)
        found: list[Any] = []
        for kind in kinds:
            found += sorted(await self._matching(kind, query.filter), key=lambda r: r.id)
        return found[start - 1 : start - 1 + count], len(found)

    async def _matching(self, kind: Kind, scim_filter: Any) -> list[Any]:
        narrowed = _narrowing(scim_filter.ast, kind) if scim_filter is not None else None
        if narrowed is not None:
            field, value = narrowed
            candidates = await self.management.reads.find(
                kind.name, self.account, field, value, _SCAN_MAX, self.call
            )
        else:
            candidates = await self._all(kind)
        resources = [self.resource(kind, s) for s in candidates]
        if scim_filter is None:
            return resources
        return [r for r in resources if scim_filter.match(r)]

    async def _all(self, kind: Kind) -> list[Stored]:
        found: list[Stored] = []
        token = ""
        while True:
            page, token = await self.management.list(
                kind.name, self.account, _STORE_PAGE, token, self.call
            )
            found += page
            if not token:
                return found

    @staticmethod
    async def _reference_errors(write: Awaitable[T]) -> T:
        """A missing member named in a document is the document's fault (400), not a 404 of
        the resource (checked before the write)."""
        try:
            return await write
        except NotFound as missing:
            raise error(400, missing.message, "invalidValue") from None

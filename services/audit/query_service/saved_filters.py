"""Saved filters: created in a scope the caller may view, readable by their owner (and by
everyone when shared), changed and deleted by their owner only, listed a keyset page at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.audit.access_control import Viewer
from services.audit.domain import bounds, page_tokens
from services.audit.domain.errors import InvalidArgument, PermissionDenied
from services.audit.domain.query import ScopeSelector, page_size
from services.audit.domain.saved_filters import EVERYONE, ONLY_ME, VISIBILITIES, SavedFilter
from services.audit.domain.scopes import check_scope
from services.audit.query_service.access import Caller
from services.audit.query_service.context import QueryContext
from services.audit.query_service.filter_input import FilterInput


@dataclass(frozen=True)
class SavedFilterDraft:
    """A saved filter as a request gives it, unchecked."""

    id: str  # of the one to update; "" when creating
    scope: str
    name: str
    visibility: str  # EVERYONE, ONLY_ME, or the unknown value as text
    filter: FilterInput
    etag: str = ""


@dataclass(frozen=True)
class SavedFilterPage:
    saved_filters: list[SavedFilter]
    next_page_token: str  # "" after the last page


@dataclass(frozen=True)
class SavedFilters(QueryContext):
    async def _checked(self, caller: Caller, draft: SavedFilterDraft) -> tuple[Viewer, SavedFilter]:
        """The draft with every field checked (its filter as a query would be), in a scope the
        caller may view; owned by the caller."""
        viewer = await self.access.viewer(caller)
        scope = check_scope(draft.scope, "saved_filter.scope")
        if not bounds.text(draft.name, "saved_filter.name", bounds.MAX_NAME):
            raise InvalidArgument("saved_filter.name", "give a name")
        if draft.visibility not in VISIBILITIES:
            raise InvalidArgument("saved_filter.visibility", f"unknown value {draft.visibility}")
        draft.filter.query(self.clock(), self.retention_days, scope)
        await self.access.require_view(caller, viewer, [ScopeSelector(scope, False)])
        visibility = EVERYONE if draft.visibility == EVERYONE else ONLY_ME
        saved = SavedFilter(
            uuid.uuid4(), scope, viewer.key, draft.name, visibility, draft.filter.stored(), 1
        )
        return viewer, saved

    async def _owned(self, caller: Caller, viewer: Viewer, filter_id: str) -> SavedFilter:
        """The saved filter if the caller owns it; a refusal is audited."""
        current = await self.store.get_saved_filter(bounds.uuid_value(filter_id, "id"), viewer.key)
        if current.owner != viewer.key:
            denied = PermissionDenied(
                "only the owner may change or delete a saved filter",
                scope=current.scope,
                permission="owner_of_saved_filter",
            )
            await self.access.record(caller, viewer, denied)
            raise denied
        return current

    async def create(self, caller: Caller, draft: SavedFilterDraft) -> SavedFilter:
        _, saved = await self._checked(caller, draft)
        return await self.store.create_saved_filter(saved)

    async def get(self, caller: Caller, filter_id: str) -> SavedFilter:
        viewer = await self.access.viewer(caller)
        return await self.store.get_saved_filter(bounds.uuid_value(filter_id, "id"), viewer.key)

    async def update(self, caller: Caller, draft: SavedFilterDraft) -> SavedFilter:
        viewer, saved = await self._checked(caller, draft)
        etag = bounds.text(draft.etag, "etag", bounds.MAX_ETAG)
        current = await self._owned(caller, viewer, draft.id)
        if current.scope != saved.scope:
            raise InvalidArgument("saved_filter.scope", "a saved filter stays in its scope")
        updated = SavedFilter(
            current.id, saved.scope, saved.owner, saved.name, saved.visibility, saved.filter, 0
        )
        return await self.store.update_saved_filter(updated, etag)

    async def delete(self, caller: Caller, filter_id: str, etag_text: str) -> None:
        viewer = await self.access.viewer(caller)
        etag = bounds.text(etag_text, "etag", bounds.MAX_ETAG)
        current = await self._owned(caller, viewer, filter_id)
        await self.store.delete_saved_filter(current.id, etag)

    async def list_in_scope(
        self, caller: Caller, scope_text: str, size_asked: int, page_token: str
    ) -> SavedFilterPage:
        viewer = await self.access.viewer(caller)
        scope = check_scope(scope_text, "scope")
        size = page_size(size_asked)
        await self.access.require_view(caller, viewer, [ScopeSelector(scope, False)])
        fingerprint = f"saved:{scope}:{viewer.key}".encode()
        after = ("", "")
        if page_token:
            name, filter_id = page_tokens.decode(self.page_key, fingerprint, page_token)
            after = (name, filter_id)
        rows = await self.store.list_saved_filters(scope, viewer.key, after, size + 1)
        next_token = ""
        if len(rows) > size:
            rows = rows[:size]
            position = [rows[-1].name, str(rows[-1].id)]
            next_token = page_tokens.encode(self.page_key, fingerprint, position)
        return SavedFilterPage(rows, next_token)

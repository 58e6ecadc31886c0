"""Thin handlers of the AuditQueryService: the caller and the request as domain values, the use
case (query_service/), the answer as protobuf. They raise domain errors; the server registers
them behind the shared error boundary (grpc_api/errors.py), which turns every failure into its
status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from services.audit.domain.query import page_size
from services.audit.grpc_api.call_metadata import bearer, request_of
from services.audit.grpc_api.converters import (
    WireFilter,
    chain_check,
    event_of,
    export_format_name,
    saved_draft,
    saved_message,
    verification_message,
)
from services.audit.query_service.access import Caller
from services.audit.query_service.chain_checks import ChainChecks
from services.audit.query_service.events import EventQueries
from services.audit.query_service.saved_filters import SavedFilters

Context = grpc.aio.ServicerContext[Any, Any]


def caller_of(context: Context) -> Caller:
    return Caller(bearer(context), request_of(context))


class AuditQueryServicer(q_grpc.AuditQueryServiceServicer):
    def __init__(self, events: EventQueries, saved: SavedFilters, chains: ChainChecks) -> None:
        self.events = events
        self.saved = saved
        self.chains = chains

    async def ListEvents(
        self, request: q.ListEventsRequest, context: Context
    ) -> q.ListEventsResponse:
        size = page_size(request.page_size)  # before the caller, as ever
        page = await self.events.list_events(
            caller_of(context),
            WireFilter(request.filter),
            request.saved_filter_id,
            size,
            request.page_token,
        )
        return q.ListEventsResponse(
            events=[event_of(r) for r in page.records], next_page_token=page.next_page_token
        )

    async def GetEvent(self, request: q.GetEventRequest, context: Context) -> q.GetEventResponse:
        found = await self.events.get_event(caller_of(context), request.event_id)
        return q.GetEventResponse(
            event=event_of(found.record),
            diff=[
                q.FieldChange(path=c.path, old_json=c.old_json, new_json=c.new_json)
                for c in found.diff
            ],
        )

    async def ExportEvents(
        self, request: q.ExportEventsRequest, context: Context
    ) -> AsyncIterator[q.ExportChunk]:
        chunks = self.events.export_events(
            caller_of(context),
            WireFilter(request.filter),
            request.saved_filter_id,
            export_format_name(request.format),
            request.resume_after_event_id,
        )
        async for chunk in chunks:
            yield q.ExportChunk(data=chunk.data, last_event_id=chunk.last_event_id)

    async def VerifyChain(
        self, request: q.VerifyChainRequest, context: Context
    ) -> q.VerifyChainResponse:
        result = await self.chains.verify(caller_of(context), chain_check(request))
        return verification_message(result)

    async def CreateSavedFilter(
        self, request: q.CreateSavedFilterRequest, context: Context
    ) -> q.SavedFilter:
        created = await self.saved.create(caller_of(context), saved_draft(request.saved_filter))
        return saved_message(created)

    async def GetSavedFilter(
        self, request: q.SavedFilterRequest, context: Context
    ) -> q.SavedFilter:
        return saved_message(await self.saved.get(caller_of(context), request.id))

    async def UpdateSavedFilter(self, request: q.SavedFilter, context: Context) -> q.SavedFilter:
        updated = await self.saved.update(caller_of(context), saved_draft(request))
        return saved_message(updated)

    async def DeleteSavedFilter(
        self, request: q.SavedFilterRequest, context: Context
    ) -> q.DeleteSavedFilterResponse:
        await self.saved.delete(caller_of(context), request.id, request.etag)
        return q.DeleteSavedFilterResponse()

    async def ListSavedFilters(
        self, request: q.ListSavedFiltersRequest, context: Context
    ) -> q.ListSavedFiltersResponse:
        page = await self.saved.list_in_scope(
            caller_of(context), request.scope, request.page_size, request.page_token
        )
        return q.ListSavedFiltersResponse(
            saved_filters=[saved_message(r) for r in page.saved_filters],
            next_page_token=page.next_page_token,
        )

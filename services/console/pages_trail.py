"""The audit trail: events newest first a keyset page at a time, the filter in the URL, saved
filters, export and the account's chain verification."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs, urlencode

import grpc
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from services.console.backends import bearer
from services.console.errors import failure
from services.console.filters import ACTIONS, PRESET_LABELS, FilterError, TrailFilter
from services.console.web import checked_form, console, render, see_other, session_of

MAX_PAGE_TOKEN = 1024
EXPORTS = {
    "csv": (q.EXPORT_FORMAT_CSV, "text/csv; charset=utf-8", "audit-events.csv"),
    "jsonl": (q.EXPORT_FORMAT_JSON_LINES, "application/x-ndjson", "audit-events.jsonl"),
}
VISIBILITY = {"only_me": q.VISIBILITY_ONLY_ME, "everyone": q.VISIBILITY_EVERYONE}
VERIFY_TIMEOUT_S = 120.0
EXPORT_TIMEOUT_S = 3600.0


def query_of(request: Request) -> dict[str, list[str]]:
    params = request.query_params
    return {key: params.getlist(key) for key in params}


def event_row(e: ev.AuditEvent) -> dict[str, Any]:
    return {
        "id": e.event_id,
        "time": e.occurred_at.ToDatetime(tzinfo=UTC),
        "principal": e.principal.identifier,
        "principal_type": ev.PrincipalType.Name(e.principal.type).removeprefix("PRINCIPAL_TYPE_"),
        "email": e.principal.email,
        "action": action_name(e.action),
        "resource_type": e.resource.type,
        "resource_id": e.resource.identifier,
        "account": e.scope.account,
        "organization": e.scope.organization,
        "project": e.scope.project,
        "module": e.module,
    }


def action_name(value: int) -> str:
    try:
        return ev.Action.Name(value).removeprefix("ACTION_")  # type: ignore[arg-type]
    except ValueError:
        return str(value)  # a newer action than this console knows


async def trail(request: Request) -> Response:
    session = session_of(request)
    api = console(request).backends.events
    saved_id = request.query_params.get("saved")
    if saved_id:  # applying a saved filter: its fields become the URL's filter
        saved = await api.GetSavedFilter(
            q.SavedFilterRequest(id=saved_id[:64]), metadata=bearer(session.token)
        )
        return see_other("/events?" + urlencode(TrailFilter.from_proto(saved.filter).to_query()))
    chosen = TrailFilter.from_query(query_of(request))
    effective = chosen.with_default_scope(session.account)
    page_token = request.query_params.get("page", "")[:MAX_PAGE_TOKEN]
    saved_scope = (effective.scope or effective.scope_only)[0]
    # The page and the saved filters are independent: asked at once.
    (events, next_page, error), (saved_filters, saved_error) = await asyncio.gather(
        list_events(request, effective, page_token), list_saved(request, saved_scope)
    )
    query = effective.to_query()
    return render(
        request,
        "trail.html",
        title="Audit trail",
        f=effective,
        events=events,
        error=error,
        query=urlencode(query),
        next_url="/events?" + urlencode([*query, ("page", next_page)]) if next_page else "",
        first_url="/events?" + urlencode(query) if page_token else "",
        actions=ACTIONS,
        presets=PRESET_LABELS,
        saved_filters=saved_filters,
        saved_error=saved_error,
        saved_scope=saved_scope,
        me=f"{session.principal_type}:{session.principal_scope}/{session.principal_id}",
    )


async def list_events(
    request: Request, effective: TrailFilter, page_token: str
) -> tuple[list[dict[str, Any]], str, str | None]:
    """A page of events, the next page's token, or the reason there is none in words."""
    session = session_of(request)
    try:
        reply = await console(request).backends.events.ListEvents(
            q.ListEventsRequest(
                filter=effective.to_proto(),
                page_size=console(request).settings.page_size,
                page_token=page_token,
            ),
            metadata=bearer(session.token),
        )
    except FilterError as exc:
        return [], "", f"The filter was not accepted: {exc}"
    except grpc.aio.AioRpcError as exc:
        return [], "", failure(exc)
    return [event_row(e) for e in reply.events], reply.next_page_token, None


async def list_saved(request: Request, scope: str) -> tuple[list[q.SavedFilter], str | None]:
    session = session_of(request)
    try:
        reply = await console(request).backends.events.ListSavedFilters(
            q.ListSavedFiltersRequest(scope=scope, page_size=100), metadata=bearer(session.token)
        )
    except grpc.aio.AioRpcError as exc:
        return [], failure(exc)
    return list(reply.saved_filters), None


async def export(request: Request) -> Response:
    """Streamed from the API's export as it arrives; the first chunk is awaited before the
    answer starts, so that a refusal is a page in words rather than a broken download."""
    session = session_of(request)
    fmt, media_type, filename = EXPORTS.get(request.query_params.get("format", ""), EXPORTS["csv"])
    effective = TrailFilter.from_query(query_of(request)).with_default_scope(session.account)
    try:
        stream = console(request).backends.events.ExportEvents(
            q.ExportEventsRequest(filter=effective.to_proto(), format=fmt),
            metadata=bearer(session.token),
            timeout=EXPORT_TIMEOUT_S,
        )
        chunks = stream.__aiter__()
        first = await anext(chunks, None)
    except FilterError as exc:
        return render(
            request, "error.html", 400, title="Export", error=f"The filter was not accepted: {exc}"
        )

    async def body() -> AsyncIterator[bytes]:
        if first is not None:
            yield first.data
        async for chunk in chunks:
            yield chunk.data

    headers = {"content-disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(body(), media_type=media_type, headers=headers)


async def chain(request: Request) -> Response:
    session = session_of(request)
    account = request.query_params.get("account", session.account)[:128]
    try:
        reply = await console(request).backends.events.VerifyChain(
            q.VerifyChainRequest(account=account),
            metadata=bearer(session.token),
            timeout=VERIFY_TIMEOUT_S,
        )
    except grpc.aio.AioRpcError as exc:
        return render(
            request,
            "chain.html",
            title="Chain verification",
            account=account,
            result=None,
            error=failure(exc),
        )
    return render(request, "chain.html", title="Chain verification", account=account, result=reply)


async def save_filter(request: Request) -> Response:
    session = session_of(request)
    form = await checked_form(request, session)
    query = str(form.get("query", ""))[:8192]
    back = "/events?" + query
    chosen = TrailFilter.from_query(parse_qs(query)).with_default_scope(session.account)
    try:
        saved = q.SavedFilter(
            scope=str(form.get("scope", "")) or (chosen.scope or chosen.scope_only)[0],
            name=str(form.get("name", "")),
            visibility=VISIBILITY.get(str(form.get("visibility")), q.VISIBILITY_ONLY_ME),
            filter=chosen.to_proto(),
        )
        await console(request).backends.events.CreateSavedFilter(
            q.CreateSavedFilterRequest(saved_filter=saved), metadata=bearer(session.token)
        )
        session.flash.append(f"Saved the filter “{saved.name}”.")
    except FilterError as exc:
        session.flash.append(f"Not saved: {exc}")
    except grpc.aio.AioRpcError as exc:
        session.flash.append(f"Not saved. {failure(exc)}")
    return see_other(back)


async def rename_filter(request: Request) -> Response:
    session = session_of(request)
    form = await checked_form(request, session)
    api, metadata = console(request).backends.events, bearer(session.token)
    back = "/events?" + str(form.get("query", ""))[:8192]
    try:
        current = await api.GetSavedFilter(
            q.SavedFilterRequest(id=request.path_params["filter_id"][:64]), metadata=metadata
        )
        current.name = str(form.get("name", ""))
        await api.UpdateSavedFilter(current, metadata=metadata)
        session.flash.append(f"Renamed the filter to “{current.name}”.")
    except grpc.aio.AioRpcError as exc:
        session.flash.append(f"Not renamed. {failure(exc)}")
    return see_other(back)


async def delete_filter(request: Request) -> Response:
    session = session_of(request)
    form = await checked_form(request, session)
    back = "/events?" + str(form.get("query", ""))[:8192]
    try:
        await console(request).backends.events.DeleteSavedFilter(
            q.SavedFilterRequest(
                id=request.path_params["filter_id"][:64], etag=str(form.get("etag", ""))[:32]
            ),
            metadata=bearer(session.token),
        )
        session.flash.append("Deleted the filter.")
    except grpc.aio.AioRpcError as exc:
        session.flash.append(f"Not deleted. {failure(exc)}")
    return see_other(back)

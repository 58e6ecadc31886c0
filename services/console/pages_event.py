"""One event: every field, and its old and new state side by side as YAML."""

from __future__ import annotations

import grpc
from starlette.requests import Request
from starlette.responses import Response

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from services.console.backends import bearer
from services.console.errors import in_words
from services.console.pages_trail import event_row
from services.console.web import console, render, session_of
from services.console.yaml_diff import side_by_side


async def event_detail(request: Request) -> Response:
    session = session_of(request)
    event_id = request.path_params["event_id"][:64]
    try:
        reply = await console(request).backends.events.GetEvent(
            q.GetEventRequest(event_id=event_id), metadata=bearer(session.token)
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        status = 404 if exc.code() == grpc.StatusCode.NOT_FOUND else 400
        if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
            status = 403
        return render(request, "error.html", status, title="Event", error=in_words(exc))
    e: ev.AuditEvent = reply.event
    return render(
        request,
        "event.html",
        title=f"Event {e.event_id}",
        e=e,
        row=event_row(e),
        labels=sorted(e.resource.labels.items()),
        rows=side_by_side(e.old_state_json, e.new_state_json),
        changes=list(reply.diff),
    )

"""audit search | show | tail | export | verify (and the `filters` group)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from audit.v1 import query_pb2 as q
from services.cli import event_views, saved_filter_commands
from services.cli.audit_filters import FILTER_OPTIONS, OVERLAP, Filters, with_window
from services.cli.event_views import event_row, print_event, print_line
from services.cli.failures import NO, usage
from services.cli.options import with_options
from services.cli.output import Format, as_dict, emit, emit_one, err
from services.cli.saved_filter_commands import saved_id
from services.cli.session import Session, run
from services.cli.timespec import moment, stamp

app = typer.Typer(
    help="The audit trail: search, show, tail, export, verify, saved filters.\n\n"
    "Example: authz-audit audit search --since 7d --type ROLE -o json",
    no_args_is_help=True,
)
app.add_typer(saved_filter_commands.app, name="filters")


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"

    @property
    def wire(self) -> q.ExportFormat.ValueType:
        return q.EXPORT_FORMAT_CSV if self is ExportFormat.csv else q.EXPORT_FORMAT_JSON_LINES


OutputOption = Annotated[Format, typer.Option("--output", "-o", help="table, json, jsonl or csv")]


def _rows(events: list[Any], fmt: Format) -> list[dict[str, Any]]:
    return [as_dict(e) if fmt in (Format.json, Format.jsonl, Format.yaml) else event_row(e)
            for e in events]  # fmt: skip


@app.command()
@with_options(FILTER_OPTIONS, into="values")
def search(
    output: OutputOption = Format.table,
    limit: Annotated[int, typer.Option(help="at most this many events (newest first)")] = 50,
    all_pages: Annotated[
        bool, typer.Option("--all", help="every matching event, page after page")
    ] = False,
    page_size: Annotated[int, typer.Option(help="events per call with --all")] = 500,
    values: dict[str, Any] | None = None,
) -> None:
    """Events matching the filters, newest first.

    Example: authz-audit audit search --since 7d --user alice --action update -o csv
    """
    filters = Filters(values or {})
    if limit < 1 and not all_pages:
        raise usage("--limit: give a positive number, or --all")

    async def work(session: Session) -> list[Any]:
        request = q.ListEventsRequest(
            filter=filters.message(session.profile.account, datetime.now(UTC)),
            saved_filter_id=await saved_id(session, filters),
            page_size=page_size if all_pages else min(limit, 1000),
        )
        events: list[Any] = []
        while True:
            page = await session.query.ListEvents(request)
            events += page.events
            if not page.next_page_token or (not all_pages and len(events) >= limit):
                return events if all_pages else events[:limit]
            request.page_token = page.next_page_token

    events = run(work, endpoint="audit")
    columns = event_views.TABLE_COLUMNS if output is Format.table else event_views.COLUMNS
    emit(_rows(events, output), output, columns)


@app.command()
def show(
    event_id: str,
    output: Annotated[Format, typer.Option("--output", "-o", help="table or json")] = Format.table,
) -> None:
    """One event with the before/after diff of what it changed (removed red, added green).

    Example: authz-audit audit show 01937a4e-...
    """

    async def work(session: Session) -> q.GetEventResponse:
        return await session.query.GetEvent(q.GetEventRequest(event_id=event_id))

    response = run(work, endpoint="audit")
    if output is Format.table:
        print_event(response)
    else:
        row = {"event": as_dict(response.event), "diff": [as_dict(d) for d in response.diff]}
        emit_one(row, output)


async def follow(
    session: Session,
    filters: Filters,
    interval: float,
    max_events: int,
    stop_after_s: float,
    shown: Any,
) -> int:
    """Poll the query API: each poll asks for events since the newest seen (less an overlap for
    events the pipeline delivers late), oldest first, skipping those already shown."""
    now = datetime.now(UTC)
    floor = filters.since_start(now) or now
    base = filters.message(session.profile.account, now)
    saved = await saved_id(session, filters)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stop_after_s if stop_after_s > 0 else None
    seen: dict[str, datetime] = {}
    cursor = floor
    count = 0
    while True:
        now = datetime.now(UTC)
        start = max(floor, cursor - OVERLAP)
        request = q.ListEventsRequest(
            filter=with_window(base, start, now + timedelta(seconds=1)),
            saved_filter_id=saved,
            page_size=1000,
        )
        fresh: list[Any] = []
        while True:
            page = await session.query.ListEvents(request)
            fresh += [e for e in page.events if e.event_id not in seen]
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        fresh.sort(key=lambda e: (e.occurred_at.ToDatetime(), e.event_id))
        for event in fresh:
            at = event.occurred_at.ToDatetime(tzinfo=UTC)
            seen[event.event_id] = at
            cursor = max(cursor, at)
            shown(event)
            count += 1
            if max_events and count >= max_events:
                return count
        seen = {k: at for k, at in seen.items() if at >= cursor - OVERLAP}
        if deadline is not None and loop.time() >= deadline:
            return count
        wait = interval if deadline is None else min(interval, max(0.0, deadline - loop.time()))
        await asyncio.sleep(wait)


@app.command()
@with_options(FILTER_OPTIONS, into="values")
def tail(
    output: Annotated[Format, typer.Option("--output", "-o", help="table or jsonl")] = Format.table,
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 2.0,
    max_events: Annotated[int, typer.Option(help="stop after this many events (0: never)")] = 0,
    timeout: Annotated[float, typer.Option(help="stop after this many seconds (0: never)")] = 0,
    values: dict[str, Any] | None = None,
) -> None:
    """Follow new events as they arrive (from now, or from --since), until Ctrl-C.

    Example: authz-audit audit tail --scope acme/o --action delete
    """
    if interval <= 0:
        raise usage("--interval: must be positive")
    filters = Filters(values or {})

    def shown(event: Any) -> None:
        if output in (Format.json, Format.jsonl):
            emit([as_dict(event)], Format.jsonl, ())
        else:
            print_line(event)
        sys.stdout.flush()

    try:
        run(lambda s: follow(s, filters, interval, max_events, timeout, shown), endpoint="audit")
    except KeyboardInterrupt:
        err.print("stopped")


@app.command()
@with_options(FILTER_OPTIONS, into="values")
def export(
    export_format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.jsonl,
    to: Annotated[
        Path | None, typer.Option("--out", help="write to this file (default: standard output)")
    ] = None,
    resume_after: Annotated[
        str, typer.Option(help="continue an interrupted export after this event id")
    ] = "",
    values: dict[str, Any] | None = None,
) -> None:
    """Every matching event, streamed as CSV or JSON lines (oldest to newest as the API sends).

    Example: authz-audit audit export --since 30d --format csv --out trail.csv
    """
    filters = Filters(values or {})

    async def work(session: Session) -> str:
        request = q.ExportEventsRequest(
            filter=filters.message(session.profile.account, datetime.now(UTC)),
            saved_filter_id=await saved_id(session, filters),
            format=export_format.wire,
            resume_after_event_id=resume_after,
        )
        last = ""
        sink = to.open("wb") if to else sys.stdout.buffer
        try:
            async for chunk in session.query.ExportEvents(request, metadata=session.metadata):
                sink.write(chunk.data)
                last = chunk.last_event_id or last
        finally:
            if to:
                sink.close()
            else:
                sink.flush()
        return last

    last = run(work, endpoint="audit")
    if last:
        err.print(f"exported up to event {last}")


@app.command()
def verify(
    account: str,
    start: Annotated[str | None, typer.Option("--from", help="check links from (ISO 8601)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="check links until (ISO 8601)")] = None,
    head_position: Annotated[
        int, typer.Option(help="a head recorded by an earlier verify: it must still hold")
    ] = 0,
    head_hash: Annotated[str, typer.Option(help="that head's hash (hex)")] = "",
    output: Annotated[Format, typer.Option("--output", "-o", help="table or json")] = Format.table,
) -> None:
    """Check ACCOUNT's hash chain: exit 0 intact, 1 broken (the broken link is named).

    Example: authz-audit audit verify acme --head-position 1200 --head-hash 3fa9...
    """
    request = q.VerifyChainRequest(
        account=account, recorded_head_position=head_position, recorded_head_hash=head_hash
    )
    if start:
        request.start.CopyFrom(stamp(moment(start, "--from")))
    if end:
        request.end.CopyFrom(stamp(moment(end, "--to")))

    async def work(session: Session) -> q.VerifyChainResponse:
        return await session.query.VerifyChain(request)

    answer = run(work, endpoint="audit")
    if output is Format.table:
        event_views.print_verification(account, answer)
    else:
        emit_one(as_dict(answer), output)
    if not answer.intact:
        raise typer.Exit(NO)

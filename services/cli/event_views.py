"""How audit events look in a terminal: a row of a table or CSV, a line of `tail`, and `show`'s
details with the before/after diff."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from services.cli.output import as_dict, column, out

TABLE_COLUMNS = ("occurred_at", "action", "principal", "resource_type", "resource_id", "scope",
                 "event_id")  # fmt: skip
COLUMNS = ("occurred_at", "action", "principal", "resource_type", "resource_id", "scope",
           "module", "client_ip", "request_id", "event_id")  # fmt: skip

# What `show` prints about an event, in order: (label, dotted path in the event's JSON form).
# A field absent from this build's contract, or empty, is left out.
DETAILS = (
    ("event", "event_id"),
    ("occurred at", "occurred_at"),
    ("action", "action"),
    ("by", "principal.identifier"),
    ("principal type", "principal.type"),
    ("e-mail", "principal.email"),
    ("resource type", "resource.type"),
    ("resource", "resource.identifier"),
    ("labels", "resource.labels"),
    ("module", "module"),
    ("client ip", "request.client_ip"),
    ("user agent", "request.user_agent"),
    ("request id", "request.request_id"),
    ("trace id", "trace_id"),
    ("policy revision", "policy_revision"),
)


def scope_path(scope: ev.Scope) -> str:
    return "/".join(p for p in (scope.account, scope.organization, scope.project) if p)


def action_name(value: int) -> str:
    try:
        return ev.Action.Name(value)[7:]  # type: ignore[arg-type]
    except ValueError:  # an action newer than this build
        return str(value)


def event_row(event: ev.AuditEvent) -> dict[str, Any]:
    return {
        "occurred_at": event.occurred_at.ToJsonString(),
        "action": action_name(event.action),
        "principal": event.principal.identifier,
        "resource_type": event.resource.type,
        "resource_id": event.resource.identifier,
        "scope": scope_path(event.scope),
        "module": event.module,
        "client_ip": event.request.client_ip,
        "request_id": event.request.request_id,
        "event_id": event.event_id,
    }


def print_line(event: ev.AuditEvent) -> None:
    row = event_row(event)
    out.print(
        escape(
            f"{row['occurred_at']} {row['action']} {row['resource_type']}/{row['resource_id']} "
            f"by {row['principal']} in {row['scope']} ({row['event_id']})"
        )
    )


def print_event(response: q.GetEventResponse) -> None:
    event = as_dict(response.event)
    grid = Table.grid(padding=(0, 2))
    grid.add_row("scope", escape(scope_path(response.event.scope)))
    for label, path in DETAILS:
        value = column(event, path)
        if value not in (None, "", {}, []):
            grid.add_row(label, escape(str(value)))
    out.print(grid)
    out.print()
    if not response.diff:
        out.print("no change recorded")
    for change in response.diff:
        path = escape(change.path)
        if change.old_json and change.new_json:
            out.print(f"[yellow]~ {path}[/]")
            out.print(f"[red]  - {escape(change.old_json)}[/]")
            out.print(f"[green]  + {escape(change.new_json)}[/]")
        elif change.new_json:
            out.print(f"[green]+ {path}: {escape(change.new_json)}[/]")
        else:
            out.print(f"[red]- {path}: {escape(change.old_json)}[/]")


def print_verification(account: str, answer: q.VerifyChainResponse) -> None:
    if answer.intact:
        out.print(f"[green]intact[/]: {answer.events_checked} events of {escape(account)} checked")
    else:
        out.print(
            f"[red]broken[/] at position {answer.broken_at_position} "
            f"(event {answer.broken_event_id}): {escape(answer.reason)}"
        )
    out.print(
        f"head: position {answer.head_position} hash {answer.head_hash} "
        f"key {escape(answer.head_key_id)}"
    )

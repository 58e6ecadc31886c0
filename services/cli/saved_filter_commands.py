"""audit filters list | save | delete, and finding a saved filter by its name."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from audit.v1 import query_pb2 as q
from services.cli.audit_filters import FILTER_OPTIONS, Filters
from services.cli.failures import NOT_FOUND, Failure, usage
from services.cli.options import with_options
from services.cli.output import Format, as_dict, emit, err
from services.cli.session import Session, run

app = typer.Typer(
    help="Saved filters of the audit trail.\n\n"
    "Example: authz-audit audit filters save role-changes --type ROLE --preset 30d",
    no_args_is_help=True,
)
COLUMNS = ("id", "name", "scope", "visibility", "owner")


class Visibility(StrEnum):
    only_me = "only-me"
    everyone = "everyone"


async def all_saved(session: Session, scope: str) -> list[q.SavedFilter]:
    found: list[q.SavedFilter] = []
    token = ""
    while True:
        page = await session.query.ListSavedFilters(
            q.ListSavedFiltersRequest(scope=scope, page_size=1000, page_token=token)
        )
        found += page.saved_filters
        token = page.next_page_token
        if not token:
            return found


async def find_saved(session: Session, name_or_id: str, scope: str) -> q.SavedFilter:
    """By id, else by name among the filters of the scope visible to the caller (own first)."""
    matches = [f for f in await all_saved(session, scope) if name_or_id in (f.id, f.name)]
    if not matches:
        raise Failure(f"NOT_FOUND: no saved filter {name_or_id!r} in {scope}", NOT_FOUND)
    matches.sort(key=lambda f: f.visibility == q.VISIBILITY_EVERYONE)
    return matches[0]


async def saved_id(session: Session, filters: Filters) -> str:
    if not filters.saved:
        return ""
    scope = (filters.scopes or [session.profile.account])[0]
    return (await find_saved(session, filters.saved, scope)).id


ScopeIn = Annotated[
    str | None,
    typer.Option("--in", help="the scope the saved filters belong to (default: your account)"),
]


@app.command("list")
def list_(
    scope: ScopeIn = None,
    output: Annotated[Format, typer.Option("--output", "-o")] = Format.table,
) -> None:
    """The saved filters of a scope you may see (yours, and everyone's shared ones).

    Example: authz-audit audit filters list --in acme -o json
    """

    async def work(session: Session) -> list[dict[str, Any]]:
        return [as_dict(f) for f in await all_saved(session, scope or session.profile.account)]

    emit(run(work, endpoint="audit"), output, COLUMNS)


@app.command()
@with_options(FILTER_OPTIONS, into="values")
def save(
    name: str,
    home: ScopeIn = None,
    visibility: Annotated[Visibility, typer.Option()] = Visibility.only_me,
    values: dict[str, Any] | None = None,
) -> None:
    """Save the filter the options describe under NAME (--since becomes a named range).

    Example: authz-audit audit filters save denials --action access_denied --preset 24h
    """
    filters = Filters(values or {})
    if filters.saved:
        raise usage("--saved: a saved filter cannot start from another one")

    async def work(session: Session) -> q.SavedFilter:
        account = session.profile.account
        saved = q.SavedFilter(
            scope=home or (filters.scopes or [account])[0],
            name=name,
            visibility=q.VISIBILITY_EVERYONE
            if visibility is Visibility.everyone
            else q.VISIBILITY_ONLY_ME,
            filter=filters.message(account, datetime.now(UTC), keep_since=True),
        )
        return await session.query.CreateSavedFilter(q.CreateSavedFilterRequest(saved_filter=saved))

    saved = run(work, endpoint="audit")
    err.print(f"saved filter {saved.name!r} ({saved.id}) in {saved.scope}")


@app.command()
def delete(name_or_id: str, scope: ScopeIn = None) -> None:
    """Delete a saved filter of yours, by name or id.

    Example: authz-audit audit filters delete denials
    """

    async def work(session: Session) -> q.SavedFilter:
        found = await find_saved(session, name_or_id, scope or session.profile.account)
        await session.query.DeleteSavedFilter(q.SavedFilterRequest(id=found.id, etag=found.etag))
        return found

    found = run(work, endpoint="audit")
    err.print(f"deleted saved filter {found.name!r} ({found.id})")

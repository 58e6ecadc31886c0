"""check | explain | permissions: the decisions of authz, for people and for scripts
(`check` exits 0 when allowed and 1 when denied)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.tree import Tree

from authz.v1 import authz_pb2 as pb
from services.cli.entity_fields import PrincipalKind
from services.cli.failures import NO
from services.cli.output import Format, emit, out
from services.cli.session import Session, run

PermissionArgument = Annotated[str, typer.Argument(help="e.g. core_pipeline_execute")]
TypeOption = Annotated[str, typer.Option("--type", "-t", help="resource type, e.g. PIPELINE")]
IdOption = Annotated[
    str, typer.Option("--id", help="resource identifier (default: every one of the type)")
]
ScopeOption = Annotated[
    str | None, typer.Option("--scope", "-s", help="the scope (default: your account)")
]
PrincipalOption = Annotated[
    str | None, typer.Option("--principal", "-p", help="who is asking (default: you)")
]
PrincipalTypeOption = Annotated[PrincipalKind, typer.Option(help="the principal's type")]
PrincipalScopeOption = Annotated[
    str, typer.Option(help="where the group or service account is defined")
]
RevisionOption = Annotated[
    int, typer.Option(help="answer from this policy revision or a newer one")
]


async def principal_of(
    session: Session, identifier: str | None, kind: PrincipalKind, scope: str
) -> pb.Principal:
    if identifier is None:
        return (await session.access.WhoAmI(pb.WhoAmIRequest())).principal
    wire = pb.PrincipalType.Value(kind.wire)
    return pb.Principal(type=wire, identifier=identifier, scope=scope)


def _request(
    principal: pb.Principal,
    scope: str,
    permission: str,
    resource_type: str,
    resource_id: str,
    revision: int,
) -> pb.CheckRequest:
    return pb.CheckRequest(
        principal=principal,
        resource_scope=scope,
        resource_type=resource_type,
        resource_identifier=resource_id,
        permission=permission,
        at_least_revision=revision,
    )


def _ask(
    rpc: str,
    permission: str,
    resource_type: str,
    resource_id: str,
    scope: str | None,
    principal: str | None,
    principal_type: PrincipalKind,
    principal_scope: str,
    at_least_revision: int,
) -> tuple[Any, str]:
    """Check or Explain as the options say: the answer and its one-line verdict."""

    async def work(session: Session) -> tuple[pb.Principal, str, Any]:
        who = await principal_of(session, principal, principal_type, principal_scope)
        where = scope or session.profile.account
        request = _request(who, where, permission, resource_type, resource_id, at_least_revision)
        return who, where, await getattr(session.access, rpc)(request)

    who, where, answer = run(work)
    verdict = "[green]allowed[/]" if answer.allowed else "[red]denied[/]"
    resource = f"{resource_type}/{resource_id or '*'} in {where}"
    headline = f"{verdict}: {who.identifier} {permission} {resource}"
    return answer, f"{headline} (policy revision {answer.revision})"


def check(
    permission: PermissionArgument,
    resource_type: TypeOption,
    resource_id: IdOption = "",
    scope: ScopeOption = None,
    principal: PrincipalOption = None,
    principal_type: PrincipalTypeOption = PrincipalKind.user,
    principal_scope: PrincipalScopeOption = "",
    at_least_revision: RevisionOption = 0,
) -> None:
    """May the principal do PERMISSION on the resource? Exit 0 if allowed, 1 if denied.

    Example: authz-audit check core_pipeline_execute -t PIPELINE --id deploy -s acme/o/p -p alice
    """

    answer, headline = _ask(
        "Check", permission, resource_type, resource_id, scope,
        principal, principal_type, principal_scope, at_least_revision,
    )  # fmt: skip
    out.print(headline)
    if not answer.allowed:
        raise typer.Exit(NO)


def explain(
    permission: PermissionArgument,
    resource_type: TypeOption,
    resource_id: IdOption = "",
    scope: ScopeOption = None,
    principal: PrincipalOption = None,
    principal_type: PrincipalTypeOption = PrincipalKind.user,
    principal_scope: PrincipalScopeOption = "",
    at_least_revision: RevisionOption = 0,
) -> None:
    """Which bindings grant PERMISSION on the resource (a tree), or why none does; exits
    like check (0 allowed, 1 denied).

    Example: authz-audit explain core_pipeline_view -t PIPELINE --id x -s acme/o/p -p alice
    """

    answer, headline = _ask(
        "Explain", permission, resource_type, resource_id, scope,
        principal, principal_type, principal_scope, at_least_revision,
    )  # fmt: skip
    tree = Tree(headline)
    for grant in answer.grants:
        branch = tree.add(f"binding [bold]{grant.role_binding}[/]")
        if grant.via_group:
            branch.add(f"via group {grant.via_group}")
        branch.add(f"role {grant.role}")
        children = "including child scopes" if grant.include_child_scopes else "this scope only"
        branch.add(f"resource group {grant.resource_group} over {grant.scope} ({children})")
    if not answer.allowed:
        tree.add(f"[yellow]{answer.reason or 'no binding grants it'}[/]")
    out.print(tree)
    if not answer.allowed:
        raise typer.Exit(NO)


def permissions(
    scope: ScopeOption = None,
    principal: PrincipalOption = None,
    principal_type: PrincipalTypeOption = PrincipalKind.user,
    principal_scope: PrincipalScopeOption = "",
    at_least_revision: RevisionOption = 0,
    output: Annotated[Format, typer.Option("--output", "-o")] = Format.table,
) -> None:
    """The permissions a principal holds in a scope.

    Example: authz-audit permissions -s acme/o/p -p alice -o json
    """

    async def work(session: Session) -> pb.ListEffectivePermissionsResponse:
        who = await principal_of(session, principal, principal_type, principal_scope)
        request = pb.ListEffectivePermissionsRequest(
            principal=who,
            scope=scope or session.profile.account,
            at_least_revision=at_least_revision,
        )
        return await session.access.ListEffectivePermissions(request)

    answer = run(work)
    emit([{"permission": p} for p in answer.permissions], output, ("permission",))


def register(app: typer.Typer) -> None:
    app.command()(check)
    app.command()(explain)
    app.command()(permissions)

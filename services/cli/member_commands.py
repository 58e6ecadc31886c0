"""groups add-member | remove-member."""

from __future__ import annotations

from typing import Annotated

import typer

from authz.v1 import authz_pb2 as pb
from services.cli.entity_commands import OutputOption, ScopeOption, scope_of
from services.cli.output import Format, as_dict, emit_one, err
from services.cli.session import Session, run

EtagOption = Annotated[str, typer.Option(help="refuse unless the group still has this etag")]


def _change(rpc: str, group: str, user: str, scope: str | None, etag: str, output: Format) -> None:
    async def work(session: Session) -> pb.UserGroupResponse:
        request = pb.MemberRequest(
            scope=scope_of(session, scope), identifier=group, user=user, etag=etag
        )
        response: pb.UserGroupResponse = await getattr(session.stub("UserGroupService"), rpc)(
            request
        )
        return response

    response = run(work)
    err.print(f"{rpc} {user}: done (policy revision {response.revision})")
    emit_one(as_dict(response.user_group), output)


def register(groups: typer.Typer) -> None:
    @groups.command("add-member")
    def add_member(
        group: str,
        user: str,
        scope: ScopeOption = None,
        etag: EtagOption = "",
        output: OutputOption = Format.yaml,
    ) -> None:
        """Add a user to a group.

        Example: authz-audit groups add-member devs alice --scope acme
        """
        _change("AddMember", group, user, scope, etag, output)

    @groups.command("remove-member")
    def remove_member(
        group: str,
        user: str,
        scope: ScopeOption = None,
        etag: EtagOption = "",
        output: OutputOption = Format.yaml,
    ) -> None:
        """Remove a user from a group.

        Example: authz-audit groups remove-member devs alice --scope acme
        """
        _change("RemoveMember", group, user, scope, etag, output)

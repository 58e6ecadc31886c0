"""list | get | create | update | delete for every RBAC kind of entity_fields.KINDS.

How changes are given: `create` builds the entity from `--file` (YAML or JSON, the shape
`get` prints), then the field options on top. `update` gets the current entity, lays the file's
fields over it, then the options (a list option replaces the whole list), and sends it with the
etag it read (or the file's etag, if the file has one): a change made by someone else in between
is refused (ABORTED, exit 6) instead of overwritten."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf import json_format
from google.protobuf.message import Message

from authz.v1 import authz_pb2 as pb
from services.cli.entity_fields import KINDS, Entity, Kind
from services.cli.entity_files import read_entity
from services.cli.failures import usage
from services.cli.options import option, with_options
from services.cli.output import Format, as_dict, emit, emit_one, err
from services.cli.session import Session, run

ScopeOption = Annotated[
    str | None, typer.Option("--scope", "-s", help="the scope (default: your account)")
]
OutputOption = Annotated[Format, typer.Option("--output", "-o", help="output format")]
FileOption = Annotated[
    Path | None, typer.Option("--file", "-f", help="the entity as YAML or JSON", exists=True)
]


def to_message(kind: Kind, entity: Entity) -> Message:
    try:
        message: Message = json_format.ParseDict(entity, getattr(pb, kind.message)())
    except json_format.ParseError as error:
        raise usage(f"{kind.snake}: {error}") from None
    return message


def apply_flags(kind: Kind, entity: Entity, flags: dict[str, Any]) -> Entity:
    for field in kind.fields:
        value = flags.get(field.name)
        if value is not None and value != []:
            field.put(entity, value)
    return entity


def scope_of(session: Session, scope: str | None) -> str:
    return scope or session.profile.account


def kind_app(kind: Kind) -> typer.Typer:
    app = typer.Typer(
        help=f"Manage {kind.command.replace('-', ' ')}.\n\nExample: {kind.example}",
        no_args_is_help=True,
    )
    field_options = [option(f.name, f.annotation, None, *f.decls, help=f.help) for f in kind.fields]

    def stub(session: Session) -> Any:
        return session.stub(kind.service)

    @app.command("list", help=f"List {kind.command} of a scope.\n\nExample: authz-audit "
                 f"{kind.command} list --scope acme -o json")  # fmt: skip
    def list_(scope: ScopeOption = None, output: OutputOption = Format.table) -> None:
        async def work(session: Session) -> list[Entity]:
            rows: list[Entity] = []
            token = ""
            while True:
                request = pb.ListRequest(
                    scope=scope_of(session, scope), page_size=1000, page_token=token
                )
                page = await getattr(stub(session), f"List{kind.message}s")(request)
                rows += [as_dict(e) for e in getattr(page, kind.plural)]
                token = page.next_page_token
                if not token:
                    return rows

        emit(run(work), output, kind.columns)

    @app.command(help=f"Show one {kind.snake.replace('_', ' ')} (YAML, the shape --file takes)."
                 f"\n\nExample: authz-audit {kind.command} get ID --scope acme")  # fmt: skip
    def get(identifier: str, scope: ScopeOption = None, output: OutputOption = Format.yaml) -> None:
        async def work(session: Session) -> Entity:
            request = pb.GetRequest(scope=scope_of(session, scope), identifier=identifier)
            response = await getattr(stub(session), f"Get{kind.message}")(request)
            return as_dict(getattr(response, kind.snake))

        emit_one(run(work), output)

    @app.command(help=f"Create a {kind.snake.replace('_', ' ')} from options and/or --file."
                 f"\n\nExample: {kind.example}")  # fmt: skip
    @with_options(field_options, into="flags")
    def create(
        identifier: Annotated[str | None, typer.Argument(help="its identifier")] = None,
        scope: ScopeOption = None,
        file: FileOption = None,
        output: OutputOption = Format.yaml,
        flags: dict[str, Any] | None = None,
    ) -> None:
        entity = apply_flags(kind, read_entity(file) if file else {}, flags or {})
        if identifier:
            entity["identifier"] = identifier
        if not entity.get("identifier"):
            raise usage("IDENTIFIER: give the identifier (argument or in --file)")

        async def work(session: Session) -> Entity:
            if scope or not entity.get(kind.scope_key):
                entity[kind.scope_key] = scope_of(session, scope)
            request = getattr(pb, f"Create{kind.message}Request")(
                request_id=str(uuid.uuid4()), **{kind.snake: to_message(kind, entity)}
            )
            response = await getattr(stub(session), f"Create{kind.message}")(request)
            err.print(f"created (policy revision {response.revision})")
            return as_dict(getattr(response, kind.snake))

        emit_one(run(work), output)

    @app.command(help=f"Change a {kind.snake.replace('_', ' ')}: the current one, with --file's "
                 "fields and then the options laid over it (a list option replaces the list)."
                 f"\n\nExample: authz-audit {kind.command} update ID --name New")  # fmt: skip
    @with_options(field_options, into="flags")
    def update(
        identifier: str,
        scope: ScopeOption = None,
        file: FileOption = None,
        output: OutputOption = Format.yaml,
        flags: dict[str, Any] | None = None,
    ) -> None:
        changes = read_entity(file) if file else {}

        async def work(session: Session) -> Entity:
            where = scope_of(session, scope)
            current = await getattr(stub(session), f"Get{kind.message}")(
                pb.GetRequest(scope=where, identifier=identifier)
            )
            entity = as_dict(getattr(current, kind.snake))
            fixed = (kind.scope_key, "identifier")  # which entity: not changed by the file
            entity.update({k: v for k, v in changes.items() if k not in fixed})
            entity = apply_flags(kind, entity, flags or {})
            response = await getattr(stub(session), f"Update{kind.message}")(
                to_message(kind, entity)
            )
            err.print(f"updated (policy revision {response.revision})")
            return as_dict(getattr(response, kind.snake))

        emit_one(run(work), output)

    @app.command(help=f"Delete a {kind.snake.replace('_', ' ')}.\n\nExample: authz-audit "
                 f"{kind.command} delete ID --scope acme --cascade")  # fmt: skip
    def delete(
        identifier: str,
        scope: ScopeOption = None,
        cascade: Annotated[
            bool, typer.Option(help="also delete the bindings (and memberships) that use it")
        ] = False,
        etag: Annotated[
            str, typer.Option(help="refuse unless the entity still has this etag")
        ] = "",
    ) -> None:
        async def work(session: Session) -> int:
            request = pb.DeleteRequest(
                scope=scope_of(session, scope), identifier=identifier, etag=etag, cascade=cascade
            )
            response = await getattr(stub(session), f"Delete{kind.message}")(request)
            return int(response.revision)

        revision = run(work)
        err.print(f"deleted {identifier} (policy revision {revision})")

    return app


def kind_apps() -> dict[str, tuple[Kind, typer.Typer]]:
    return {kind.command: (kind, kind_app(kind)) for kind in KINDS}

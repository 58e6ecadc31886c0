"""api-keys create | list | rotate | revoke. A new token is printed once, alone on standard
output (so `TOKEN=$(authz-audit api-keys create --name ci)` keeps it); everything else about
the key goes to standard error."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer

from authz.v1 import authz_pb2 as pb
from services.cli.entity_commands import OutputOption, ScopeOption
from services.cli.entity_fields import PrincipalKind
from services.cli.failures import usage
from services.cli.output import Format, as_dict, emit, err
from services.cli.session import Session, run
from services.cli.timespec import duration, moment, stamp

app = typer.Typer(
    help="API keys of a user or a service account; a token is shown once.\n\n"
    "Example: authz-audit api-keys create --name laptop --expires-in 30d",
    no_args_is_help=True,
)

OwnerOption = Annotated[
    str | None, typer.Option(help="the owning user or service account (default: you)")
]
OwnerTypeOption = Annotated[PrincipalKind, typer.Option(help="user or service-account")]
ExpiresIn = Annotated[str | None, typer.Option(help="the token expires after, e.g. 30d")]
ExpiresAt = Annotated[str | None, typer.Option(help="the token expires at (ISO 8601)")]
COLUMNS = ("identifier", "name", "owner.identifier", "created_at", "expires_at", "revoked",
           "token_prefixes")  # fmt: skip


async def owner_of(
    session: Session, owner: str | None, owner_type: PrincipalKind, scope: str | None
) -> tuple[pb.Principal, str]:
    """The owner principal and its scope; without --owner, the caller."""
    if owner is None:
        me = await session.access.WhoAmI(pb.WhoAmIRequest())
        return me.principal, scope or me.principal.scope
    where = scope or session.profile.account
    kind = pb.PrincipalType.Value(owner_type.wire)
    return pb.Principal(type=kind, identifier=owner, scope=where), where


def expiry(expires_in: str | None, expires_at: str | None) -> datetime | None:
    if expires_in and expires_at:
        raise usage("--expires-at: give --expires-in or --expires-at, not both")
    if expires_in:
        return datetime.now(UTC) + duration(expires_in, "--expires-in")
    return moment(expires_at, "--expires-at") if expires_at else None


def shown_once(response: pb.ApiKeyTokenResponse, verb: str) -> None:
    key = response.api_key
    err.print(
        f"{verb} key {key.identifier} ({key.name}) of {key.owner.identifier} in {key.scope}; "
        "the token below is shown once and cannot be read again:"
    )
    print(response.token)


@app.command()
def create(
    name: Annotated[str, typer.Option(help="what the key is for")],
    owner: OwnerOption = None,
    owner_type: OwnerTypeOption = PrincipalKind.user,
    scope: ScopeOption = None,
    expires_in: ExpiresIn = None,
    expires_at: ExpiresAt = None,
    identifier: Annotated[str, typer.Option(help="the key's identifier (default: generated)")] = "",
) -> None:
    """Create a key and print its token once.

    Example: authz-audit api-keys create --name ci --owner ci-bot --owner-type service-account
    """
    expires = expiry(expires_in, expires_at)

    async def work(session: Session) -> pb.ApiKeyTokenResponse:
        principal, where = await owner_of(session, owner, owner_type, scope)
        key = pb.ApiKey(
            scope=where, identifier=identifier or f"key-{uuid.uuid4().hex[:12]}", owner=principal,
            name=name,
        )  # fmt: skip
        if expires is not None:
            key.expires_at.CopyFrom(stamp(expires))
        request = pb.CreateApiKeyRequest(request_id=str(uuid.uuid4()), api_key=key)
        return await session.api_keys.CreateApiKey(request)

    shown_once(run(work), "created")


@app.command("list")
def list_(
    owner: OwnerOption = None,
    owner_type: OwnerTypeOption = PrincipalKind.user,
    scope: ScopeOption = None,
    output: OutputOption = Format.table,
) -> None:
    """List the keys of an owner (tokens are never shown, only their non-secret prefixes).

    Example: authz-audit api-keys list --owner ci-bot --owner-type service-account -o json
    """

    async def work(session: Session) -> list[dict[str, object]]:
        principal, where = await owner_of(session, owner, owner_type, scope)
        rows: list[dict[str, object]] = []
        token = ""
        while True:
            page = await session.api_keys.ListApiKeys(
                pb.ListApiKeysRequest(
                    owner=principal, scope=where, page_size=1000, page_token=token
                )
            )
            rows += [as_dict(k) for k in page.api_keys]
            token = page.next_page_token
            if not token:
                return rows

    emit(run(work), output, COLUMNS)


@app.command()
def rotate(
    identifier: str,
    scope: ScopeOption = None,
    expires_in: ExpiresIn = None,
    expires_at: ExpiresAt = None,
) -> None:
    """Replace a key's tokens by a new one (printed once); the old ones stop working.

    Example: authz-audit api-keys rotate key-1a2b3c --expires-in 90d
    """
    expires = expiry(expires_in, expires_at)

    async def work(session: Session) -> pb.ApiKeyTokenResponse:
        request = pb.RotateApiKeyRequest(
            scope=scope or session.profile.account, identifier=identifier
        )
        if expires is not None:
            request.expires_at.CopyFrom(stamp(expires))
        return await session.api_keys.RotateApiKey(request)

    shown_once(run(work), "rotated")


@app.command()
def revoke(
    identifier: str,
    scope: ScopeOption = None,
    etag: Annotated[str, typer.Option(help="refuse unless the key still has this etag")] = "",
) -> None:
    """Revoke every token of a key.

    Example: authz-audit api-keys revoke key-1a2b3c
    """

    async def work(session: Session) -> pb.ApiKeyResponse:
        request = pb.DeleteRequest(
            scope=scope or session.profile.account, identifier=identifier, etag=etag
        )
        return await session.api_keys.RevokeApiKey(request)

    key = run(work).api_key
    err.print(f"revoked key {key.identifier} ({key.name})")

"""login | logout | whoami: where the services are and which token speaks for you."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated

import typer

from authz.v1 import authz_pb2 as pb
from services.cli.config import CliSettings, Profile, effective, forget, save
from services.cli.failures import usage
from services.cli.output import err, out
from services.cli.session import Session, run

PRINCIPAL_NAMES = {
    pb.PRINCIPAL_TYPE_USER: "user",
    pb.PRINCIPAL_TYPE_USER_GROUP: "group",
    pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT: "service-account",
}


async def who(session: Session) -> pb.WhoAmIResponse:
    return await session.access.WhoAmI(pb.WhoAmIRequest())


def described(me: pb.WhoAmIResponse) -> str:
    kind = PRINCIPAL_NAMES.get(me.principal.type, "principal")
    email = f" <{me.email}>" if me.email else ""
    return f"{kind} {me.principal.identifier}{email} in {me.principal.scope}"


def login(
    authz: Annotated[
        str | None, typer.Option(help="the authz endpoint, HOST:PORT (default 127.0.0.1:50051)")
    ] = None,
    audit: Annotated[
        str | None, typer.Option(help="the audit query endpoint (default 127.0.0.1:50052)")
    ] = None,
    tls_ca: Annotated[
        str | None, typer.Option(help="the servers' CA certificate file: TLS (default: plaintext)")
    ] = None,
    token_stdin: Annotated[
        bool, typer.Option(help="read the token from standard input instead of a prompt")
    ] = False,
) -> None:
    """Check a token with WhoAmI and keep it, with the endpoints, in a file only you can read.

    The token comes from AUTHZ_AUDIT_TOKEN, --token-stdin or a prompt that does not echo it.

    Example: authz-audit login --authz authz.example:50051 --audit audit.example:50052
    """
    settings = CliSettings()
    profile = effective(settings)
    token = settings.token.get_secret_value()
    if token_stdin:
        token = sys.stdin.readline().strip()
    elif not token:
        token = typer.prompt("API key token", hide_input=True).strip()
    if not token:
        raise usage("no token given")
    profile = replace(
        profile,
        token=token,
        authz_endpoint=authz or profile.authz_endpoint,
        audit_endpoint=audit or profile.audit_endpoint,
        tls_ca_file=tls_ca if tls_ca is not None else profile.tls_ca_file,
    )
    me = run(who, settings, profile)
    account = me.principal.scope.split("/", 1)[0]
    path = save(settings, replace(profile, account=account))
    err.print(f"logged in as {described(me)}; saved to {path}")


def logout() -> None:
    """Forget the stored token and endpoints (the file written by login).

    Example: authz-audit logout
    """
    path = forget(CliSettings())
    err.print(f"removed {path}" if path else "not logged in: nothing to remove")


def whoami() -> None:
    """Who the token authenticates as, and which endpoints are used.

    Example: authz-audit whoami
    """
    settings = CliSettings()
    profile: Profile = effective(settings)
    me = run(who, settings, profile)
    out.print(described(me))
    out.print(f"authz: {profile.authz_endpoint}  audit: {profile.audit_endpoint}")


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.command()(whoami)

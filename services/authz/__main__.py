"""python -m services.authz [serve | migrate]"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
import typer

from libs.runtime.log_setup import configure_logging
from services.authz.audit_events import OutboxEvents
from services.authz.bootstrap import bootstrap_admin, bootstrap_operator
from services.authz.domain.errors import AuthzError
from services.authz.domain.scopes import is_reserved_account
from services.authz.guard import Guard
from services.authz.management import Management
from services.authz.policy_state import PolicyState
from services.authz.serving import run_workers, serve_replica
from services.authz.settings import AuthzSettings
from services.authz.store.connections import Connections
from services.authz.store.schema import migrate_authz

cli = typer.Typer(add_completion=False, help="The authorization service.")


@cli.callback(invoke_without_command=True)
def default(ctx: typer.Context) -> None:
    """Without a command: serve."""
    if ctx.invoked_subcommand is None:
        serve()


@cli.command()
def serve() -> None:
    """Apply migrations, load the policy and serve gRPC until SIGTERM or Ctrl-C; with
    AUTHZ_WORKERS above 1, from that many processes sharing the port."""
    settings = AuthzSettings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers > 1:
        if settings.port == 0:
            raise typer.BadParameter("several workers need a fixed port (AUTHZ_PORT)")
        raise typer.Exit(
            run_workers(
                settings.workers, serve_replica, settings.metrics_host, settings.metrics_port
            )
        )
    serve_replica(0)


@cli.command("migrate")
def migrate_command() -> None:
    """Apply pending database migrations and exit."""
    settings = AuthzSettings()
    configure_logging(settings.log_level)

    async def main() -> None:
        conn = await asyncpg.connect(settings.database_url.get_secret_value())
        try:
            applied = await migrate_authz(conn)
        finally:
            await conn.close()
        typer.echo(f"applied: {', '.join(applied) or 'nothing (up to date)'}")

    asyncio.run(main())


def _run_set_up(run: Callable[[Management], Awaitable[str]]) -> str:
    """Run a set-up command; a refusal (say, an unknown user) is one line and exit code 1."""
    try:
        return asyncio.run(_with_management(run))
    except AuthzError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None


async def _with_management(run: Callable[[Management], Awaitable[str]]) -> str:
    """Run a set-up command through the management code, as the SYSTEM caller."""
    settings = AuthzSettings()
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=3
    )
    try:
        async with pool.acquire() as conn:
            await migrate_authz(conn)
        db = Connections(pool)
        state = PolicyState()
        events = OutboxEvents(settings.audit_topic)
        management = Management(db, state, events, Guard(state, db, events))
        async with pool.acquire() as conn:
            await state.load(conn)
        await management.sync_managed_lines()
        return await run(management)
    finally:
        await pool.close()


@cli.command()
def bootstrap(
    account: Annotated[str, typer.Option(help="the account to create or complete")],
    admin: Annotated[str, typer.Option(help="the administrator's user identifier")] = "admin",
    email: Annotated[str, typer.Option(help="the administrator's email")] = "",
) -> None:
    """Create an account's administrator and print an API key token for it, once. This is the
    only path that issues a token without an invitation: everyone else is invited
    (InvitationService) and gets a first token by accepting."""
    configure_logging("WARNING")
    if is_reserved_account(account):
        raise typer.BadParameter("accounts starting with '_' are reserved for the platform")
    token = _run_set_up(lambda m: bootstrap_admin(m, account, admin, email))
    typer.echo(f"administrator {admin!r} of account {account!r}; API key token (shown once):")
    typer.echo(token)


@cli.command("bootstrap-operator")
def bootstrap_operator_command(
    operator: Annotated[str, typer.Option(help="the operator's user identifier")] = "operator",
    email: Annotated[str, typer.Option(help="the operator's email")] = "",
) -> None:
    """Create a platform operator (the only holder of the global permission registry) and
    print an API key token for it, once."""
    configure_logging("WARNING")
    token = _run_set_up(lambda m: bootstrap_operator(m, operator, email))
    typer.echo(f"platform operator {operator!r}; API key token (shown once):")
    typer.echo(token)


if __name__ == "__main__":
    cli()

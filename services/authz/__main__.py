"""python -m services.authz [serve | migrate]"""

from __future__ import annotations

import asyncio
import logging
import signal

import asyncpg
import typer

from services.authz.server import running_server
from services.authz.settings import AuthzSettings
from services.authz.store.schema import migrate_authz

cli = typer.Typer(add_completion=False, help="The authorization service.")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.callback(invoke_without_command=True)
def default(ctx: typer.Context) -> None:
    """Without a command: serve."""
    if ctx.invoked_subcommand is None:
        serve()


@cli.command()
def serve() -> None:
    """Apply migrations, load the policy and serve gRPC until SIGTERM or Ctrl-C."""
    settings = AuthzSettings()
    configure_logging(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with running_server(settings):
            await stop.wait()
            logging.getLogger(__name__).info("shutting down: finishing in-flight calls")

    asyncio.run(main())


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


if __name__ == "__main__":
    cli()

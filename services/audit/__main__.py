"""python -m services.audit [worker | migrate | verify-chain | maintain]"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import typer

from services.audit.chain_verification import verify_account
from services.audit.settings import AuditSettings
from services.audit.store import repository

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1)
FAR_FUTURE = datetime(9999, 1, 1)

cli = typer.Typer(add_completion=False, help="The audit service.")


def _settings() -> AuditSettings:
    settings = AuditSettings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.dev_chain_key:
        log.warning(
            "AUDIT_CHAIN_KEY is the published development key: the audit chain is not anchored;"
            " set AUDIT_CHAIN_KEY and AUDIT_CHAIN_KEY_ID outside development"
        )
    return settings


@cli.callback(invoke_without_command=True)
def default(ctx: typer.Context) -> None:
    """Without a command: run the projector worker."""
    if ctx.invoked_subcommand is None:
        worker()


@cli.command()
def worker() -> None:
    """Run the faust projector: audit.events.v1 -> PostgreSQL, until SIGTERM or Ctrl-C."""
    from services.audit.projector import create_app

    settings = _settings()
    app = create_app(settings)
    level = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error"}
    sys.argv = [sys.argv[0], "worker", "--without-web", "-l", level.get(settings.log_level, "info")]
    app.main()


async def _connect(settings: AuditSettings) -> asyncpg.Connection:
    return await asyncpg.connect(settings.database_url.get_secret_value())


@cli.command()
def serve() -> None:
    """Serve the query API (gRPC) until SIGTERM or Ctrl-C."""
    from services.audit.query_server import running_query_server

    settings = _settings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with running_query_server(settings):
            await stop.wait()

    asyncio.run(main())


@cli.command()
def migrate() -> None:
    """Apply pending migrations and create the partitions around now."""
    settings = _settings()

    async def main() -> None:
        conn = await _connect(settings)
        try:
            applied = await repository.migrate_audit(conn)
            created = await repository.ensure_partitions(
                conn, datetime.now(UTC), settings.partitions_behind, settings.partitions_ahead
            )
        finally:
            await conn.close()
        typer.echo(f"applied: {applied or 'nothing'}; partitions created: {created or 'none'}")

    asyncio.run(main())


@cli.command()
def maintain() -> None:
    """Create partitions ahead and drop the ones past retention."""
    settings = _settings()

    async def main() -> None:
        conn = await _connect(settings)
        try:
            now = datetime.now(UTC)
            created = await repository.ensure_partitions(
                conn, now, settings.partitions_behind, settings.partitions_ahead
            )
            dropped = await repository.drop_expired(conn, now, settings.retention_days)
        finally:
            await conn.close()
        typer.echo(f"created: {created or 'none'}; dropped: {dropped or 'none'}")

    asyncio.run(main())


@cli.command("verify-chain")
def verify_chain(
    account: str,
    start: Annotated[datetime, typer.Option(help="from (inclusive), UTC")] = EPOCH,
    end: Annotated[datetime, typer.Option(help="to (exclusive), UTC")] = FAR_FUTURE,
) -> None:
    """Verify an account's hash chain over a time range; exit 1 naming the first broken link."""
    settings = _settings()

    async def main() -> int:
        conn = await _connect(settings)
        try:
            result = await verify_account(
                conn,
                account,
                start.replace(tzinfo=UTC),
                end.replace(tzinfo=UTC),
                settings.chain_keys(),
            )
        finally:
            await conn.close()
        head = result.head
        where = "no head" if head is None else f"head {head.seq} {head.hash.hex()} ({head.key_id})"
        broken = result.broken
        if broken is None:
            typer.echo(f"ok: {result.checked} events of {account!r} chain correctly; {where}")
            return 0
        typer.echo(
            f"BROKEN at chain position {broken.seq} (event {broken.event_id or '-'}):"
            f" {broken.reason}; {where}"
        )
        return 1

    raise typer.Exit(asyncio.run(main()))


if __name__ == "__main__":
    cli()

"""python -m services.audit [worker | migrate | verify-chain | maintain]"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import typer

from libs.runtime.log_setup import configure_logging
from libs.runtime.metrics_http import start_metrics_server
from libs.runtime.tracing import configure_tracing, shutdown_tracing
from services.audit.chain_verification import verify_account
from services.audit.domain import bounds
from services.audit.domain.chain import ChainHead
from services.audit.domain.errors import InvalidArgument
from services.audit.settings import AuditSettings
from services.audit.store import repository

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1)
FAR_FUTURE = datetime(9999, 1, 1)

cli = typer.Typer(add_completion=False, help="The audit service.")


def _settings() -> AuditSettings:
    settings = AuditSettings()
    configure_logging(settings.log_level, settings.log_format)
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
    configure_tracing("audit-query", settings.otlp_endpoint)
    start_metrics_server(settings.metrics_host, settings.metrics_port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with running_query_server(settings):
            await stop.wait()

    try:
        asyncio.run(main())
    finally:
        shutdown_tracing()


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
    recorded_head: Annotated[
        str, typer.Option(help="POSITION:HASH of a head recorded earlier, outside the database")
    ] = "",
) -> None:
    """Verify an account's hash chain over a time range, its newest event against the signed
    head, and that head against one recorded earlier; exit 1 naming the first broken link."""
    settings = _settings()
    position, _, hex_hash = recorded_head.partition(":")
    try:
        recorded = bounds.recorded_head(int(position or 0), hex_hash)
    except (ValueError, InvalidArgument) as exc:
        raise typer.BadParameter(str(exc), param_hint="--recorded-head") from None

    async def main() -> int:
        conn = await _connect(settings)
        try:
            result = await verify_account(
                conn,
                account,
                start.replace(tzinfo=UTC),
                end.replace(tzinfo=UTC),
                settings.chain_keys(),
                recorded,
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


@cli.command("chain-heads")
def chain_heads() -> None:
    """Print every account's signed chain head as JSON lines: store them outside the database
    and pass one to verify-chain --recorded-head later to detect a rollback."""
    settings = _settings()

    async def main() -> list[ChainHead]:
        conn = await _connect(settings)
        try:
            return await repository.chain_heads(conn)
        finally:
            await conn.close()

    for head in asyncio.run(main()):
        line = {
            "account": head.account,
            "position": head.seq,
            "hash": head.hash.hex(),
            "key_id": head.key_id,
            "mac": head.mac.hex(),
            "recorded_at": datetime.now(UTC).isoformat(),
        }
        typer.echo(json.dumps(line))


if __name__ == "__main__":
    cli()

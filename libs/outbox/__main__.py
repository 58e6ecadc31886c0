"""python -m libs.outbox: run the outbox relay on its own (OUTBOX_* settings), with an HTTP
health endpoint (GET /health: 503 when a publishable row waited longer than health_max_age_s)
and its Prometheus metrics on the same port (GET /metrics)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
from pydantic_settings import SettingsConfigDict

from libs.health_http import start_health_server
from libs.migrations import migrate
from libs.outbox.relay import Relay, RelayConfig
from libs.runtime.log_setup import configure_logging
from libs.runtime.settings import ServiceSettings

MIGRATIONS = [("outbox", Path(__file__).parent / "migrations")]


class RelaySettings(ServiceSettings):
    """OUTBOX_DATABASE_URL and OUTBOX_LOG_LEVEL are declared in libs.runtime.settings."""

    model_config = SettingsConfigDict(env_prefix="OUTBOX_", frozen=True)

    bootstrap_servers: str = "127.0.0.1:19092"
    batch_size: int = 500
    poll_interval_s: float = 2.0
    retention_s: float = 7 * 24 * 3600.0
    # Declared at start (AUDIT_TOPIC_* say how); any other topic before its first row.
    declare_topics: tuple[str, ...] = ("audit.events.v1",)
    health_host: str = "127.0.0.1"
    health_port: int = 8082  # 0 picks a free port; -1 turns it off
    health_max_age_s: float = 30.0


async def main(settings: RelaySettings) -> None:
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=2, max_size=4
    )
    async with pool.acquire() as conn:
        await migrate(conn, MIGRATIONS)  # the outbox's own, also when authz has not run yet
    relay = Relay(
        pool,
        RelayConfig(
            bootstrap_servers=settings.bootstrap_servers,
            batch_size=settings.batch_size,
            poll_interval_s=settings.poll_interval_s,
            retention_s=settings.retention_s,
            declare=settings.declare_topics,
        ),
    )
    health = None
    if settings.health_port >= 0:
        health = await start_health_server(
            settings.health_host,
            settings.health_port,
            lambda: relay.health(settings.health_max_age_s),
        )
    task = asyncio.create_task(relay.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        if health is not None:
            health.close()
        await pool.close()


if __name__ == "__main__":
    settings = RelaySettings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(main(settings))

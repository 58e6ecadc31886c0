"""python -m libs.outbox: run the outbox relay on its own (OUTBOX_* settings)."""

from __future__ import annotations

import asyncio
import logging
import signal

import asyncpg
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.outbox.relay import Relay, RelayConfig


class RelaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTBOX_", frozen=True)

    database_url: SecretStr = SecretStr(
        "postgresql://authz_audit:authz_audit@127.0.0.1:55432/authz_audit"
    )
    bootstrap_servers: str = "127.0.0.1:19092"
    batch_size: int = 500
    poll_interval_s: float = 2.0
    retention_s: float = 7 * 24 * 3600.0
    log_level: str = "INFO"


async def main(settings: RelaySettings) -> None:
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=2, max_size=3
    )
    relay = Relay(
        pool,
        RelayConfig(
            bootstrap_servers=settings.bootstrap_servers,
            batch_size=settings.batch_size,
            poll_interval_s=settings.poll_interval_s,
            retention_s=settings.retention_s,
        ),
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
        await pool.close()


if __name__ == "__main__":
    settings = RelaySettings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main(settings))

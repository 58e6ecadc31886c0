"""python -m services.mailer: deliver authz's notifications (invitations) by email."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from libs.health_http import start_health_server
from libs.runtime.log_setup import configure_logging
from libs.runtime.metrics_http import start_metrics_server
from services.mailer.mailer import Mailer
from services.mailer.settings import MailerSettings


async def main(settings: MailerSettings) -> None:
    mailer = Mailer(settings)
    health = None
    if settings.health_port >= 0:
        health = await start_health_server(
            settings.health_host, settings.health_port, mailer.health
        )
    task = asyncio.create_task(mailer.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        if health is not None:
            health.close()


if __name__ == "__main__":
    settings = MailerSettings()
    configure_logging(settings.log_level, settings.log_format)
    start_metrics_server(settings.metrics_host, settings.metrics_port)
    asyncio.run(main(settings))

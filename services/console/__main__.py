"""python -m services.console: serve the web console (CONSOLE_* settings)."""

from __future__ import annotations

import uvicorn

from libs.runtime.log_setup import configure_logging
from libs.runtime.metrics_http import start_metrics_server
from services.console.app import create_app
from services.console.settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings()
    configure_logging(settings.log_level, settings.log_format)
    start_metrics_server(settings.metrics_host, settings.metrics_port)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=settings.tls_cert_file or None,
        ssl_keyfile=settings.tls_key_file or None,
        proxy_headers=False,  # the console believes no forwarding header
        server_header=False,
        log_config=None,  # the project's logging (uvicorn's access log names paths only)
    )


if __name__ == "__main__":
    main()

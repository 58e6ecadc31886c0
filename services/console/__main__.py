"""python -m services.console: serve the web console (CONSOLE_* settings)."""

from __future__ import annotations

import uvicorn

from libs.runtime.log_setup import configure_logging
from services.console.app import create_app
from services.console.settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings()
    configure_logging(settings.log_level)
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

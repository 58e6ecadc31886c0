"""An authz server per test, on a fresh PostgreSQL database (clients: tests/authz/clients.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.authz.server import running_server
from tests.authz.clients import Authz, connect, settings_for


@pytest.fixture
async def authz(database_url: str) -> AsyncIterator[Authz]:
    async with running_server(settings_for(database_url)) as server:
        client = await connect(server)
        try:
            yield client
        finally:
            await client.channel.close(None)

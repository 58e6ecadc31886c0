"""A real SMTP server in the test's process (aiosmtpd) that keeps every mail it is given, for
the tests that follow an invitation from InviteUser to the mailbox."""

from __future__ import annotations

import asyncio
import contextlib
import email
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.harness.services import free_port


class Inbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.arrived = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        self.messages.append(message)
        self.loop.call_soon_threadsafe(self.arrived.set)
        return "250 OK"

    async def next(self, timeout_s: float = 60.0) -> EmailMessage:
        count = len(self.messages)
        while len(self.messages) == count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout_s)
        return self.messages[-1]

    async def message(self, index: int, timeout_s: float = 60.0) -> EmailMessage:
        """The index-th mail received (from 0), waiting for it if it has not arrived yet."""
        while len(self.messages) <= index:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout_s)
        return self.messages[index]


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@contextlib.contextmanager
def task_of(coroutine: Any) -> Iterator[asyncio.Task[Any]]:
    task = asyncio.create_task(coroutine)
    try:
        yield task
    finally:
        task.cancel()

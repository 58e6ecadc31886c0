"""The port through which a write's audit event leaves, inside the write's transaction."""

from __future__ import annotations

from typing import Protocol

from services.authz.domain.audit import CallInfo, Change
from services.authz.store.repository import Conn


class EventSink(Protocol):
    async def record(self, conn: Conn, change: Change, revision: int, call: CallInfo) -> None: ...

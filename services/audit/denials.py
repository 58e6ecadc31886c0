"""Refusals of the audit query API become ACCESS_DENIED audit events (module `audit`), written
to the shared outbox in the audit database and published by the outbox relay, coalesced so that
no caller can flood a trail. The refusal stands even when its event cannot be written."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import asyncpg

from audit.v1 import event_pb2 as ev
from libs.events import codec
from libs.events.coalescing import Coalescer
from libs.outbox.writer import add_event
from services.audit.access_control import Viewer

log = logging.getLogger(__name__)

MODULE = "audit"
RESOURCE_TYPE = "AUDIT"


def principal_of(viewer: Viewer) -> ev.Principal:
    try:
        principal_type = ev.PrincipalType.Value(f"PRINCIPAL_TYPE_{viewer.type}")
    except ValueError:
        principal_type = ev.PRINCIPAL_TYPE_UNSPECIFIED
    return ev.Principal(type=principal_type, identifier=viewer.identifier, email=viewer.email)


class DenialRecorder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        coalescer: Coalescer,
        topic: str = codec.TOPIC,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.coalescer = coalescer
        self.topic = topic
        self.clock = clock

    async def record(
        self, viewer: Viewer, scope: str, permission: str, reason: str, request: codec.Request
    ) -> bool:
        """Whether an event was written (False: folded into an earlier one, or not writable)."""
        folded = self.coalescer.admit(viewer.key, scope, permission, self.clock())
        if folded is None:
            return False
        event = codec.new_event(
            module=MODULE,
            scope=scope,
            principal=principal_of(viewer),
            action=ev.ACTION_ACCESS_DENIED,
            resource_type=RESOURCE_TYPE,
            resource_identifier="",
            old_state=None,
            new_state={"permission": permission, "reason": reason, "folded_before": folded},
            request=request,
        )
        try:
            async with self.pool.acquire(timeout=5) as conn, conn.transaction():
                await add_event(conn, event, self.topic)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.exception("could not write the ACCESS_DENIED event of %s in %s", viewer.key, scope)
            return False
        return True

"""What every use case of the query API works with: the store, access through authz, the key
that signs page tokens, the retention window and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.audit.query_service.access import ViewAccess
from services.audit.store.query_store import QueryStore


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class QueryContext:
    store: QueryStore
    access: ViewAccess
    page_key: bytes
    retention_days: int
    clock: Callable[[], datetime] = _now

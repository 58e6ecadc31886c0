"""An event filter as the API gives it. It stays in the API's own format (saved filters keep it
as bytes, and a saved one is laid over field by field as that format defines), so the service
handles it only through this interface; grpc_api/converters.py implements it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.audit.domain.query import EventQuery


class FilterInput(Protocol):
    def laid_over(self, saved: bytes) -> FilterInput:
        """This filter over a saved one: the fields this one sets replace the saved ones."""
        ...

    def query(self, now: datetime, retention_days: int, scope: str = "") -> EventQuery:
        """The checked query; `scope` stands in when the filter names none."""
        ...

    def stored(self) -> bytes:
        """The form a saved filter keeps."""
        ...

    def fingerprint(self) -> bytes:
        """Deterministic bytes of the filter: the page tokens of its query are bound to them."""
        ...

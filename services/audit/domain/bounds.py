"""The bounds of every text and list field of the audit query API (documented in the README and
the .proto): longer input, NUL and control characters are refused naming the field, before they
reach PostgreSQL or the authz service."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from services.audit.domain.errors import InvalidArgument

T = TypeVar("T")

MAX_SCOPES = 50  # scopes of one filter
MAX_VALUES = 100  # principals, actions, resource types and ids, modules, client networks
MAX_IDENTIFIER = 128  # principal identifiers, resource types, modules
MAX_RESOURCE_ID = 256
MAX_NETWORK = 64  # an address or CIDR
MAX_TEXT = 256  # free-text search
MAX_NAME = 128  # saved filter names
MAX_ID = 64  # event and saved filter ids (UUIDs)
MAX_ETAG = 32
# Timestamps: what both Python and PostgreSQL represent.
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
NANOS = 1_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def text(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidArgument(field, f"longer than {limit} characters")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise InvalidArgument(field, "contains NUL or control characters")
    return value


def values(items: Sequence[T], field: str, limit: int) -> Sequence[T]:
    if len(items) > limit:
        raise InvalidArgument(field, f"more than {limit} values")
    return items


def texts(items: Sequence[str], field: str, limit: int, each: int) -> tuple[str, ...]:
    return tuple(text(v, field, each) for v in values(items, field, limit))


def moment(seconds: int, nanos: int, field: str) -> datetime:
    """A protobuf Timestamp's (seconds, nanos) as a UTC datetime within years 1..9999."""
    if not 0 <= nanos < NANOS:
        raise InvalidArgument(field, "nanos must be within [0, 999999999]")
    if not EARLIEST.timestamp() <= seconds <= LATEST.timestamp():
        raise InvalidArgument(field, "outside years 1..9999")
    return EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


def recorded_head(position: int, hex_hash: str) -> tuple[int, bytes] | None:
    """A head kept outside the database (position, 64 hex digits), or None when not given."""
    if not position and not hex_hash:
        return None
    if position <= 0:
        raise InvalidArgument("recorded_head_position", "give the position (1 or more) and hash")
    if len(hex_hash) != 64:
        raise InvalidArgument("recorded_head_hash", "give the 64 hex digits of the head's hash")
    try:
        return position, bytes.fromhex(hex_hash)
    except ValueError:
        raise InvalidArgument("recorded_head_hash", "not hexadecimal") from None


def uuid_value(value: str, field: str) -> uuid.UUID:
    """An event or saved filter id."""
    if len(value) > MAX_ID:
        raise InvalidArgument(field, f"longer than {MAX_ID} characters")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(field, f"{value[:64]!r} is not an id") from None

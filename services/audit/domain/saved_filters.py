"""A saved filter: a named event filter in a scope, kept in the API's own filter format (bytes
the service never reads itself), visible to its owner only or to everyone in the scope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

EVERYONE = "EVERYONE"
ONLY_ME = "ONLY_ME"
VISIBILITIES = (EVERYONE, ONLY_ME)


@dataclass(frozen=True)
class SavedFilter:
    id: uuid.UUID
    scope: str
    owner: str  # a viewer's key, e.g. "USER:acct/alice"
    name: str
    visibility: str  # EVERYONE | ONLY_ME
    filter: bytes
    etag: int

"""The authz identifier of a resource an identity provider creates: its userName (or a group's
displayName) when that is already a valid identifier, else a readable, deterministic one
derived from it. Deterministic, so that two concurrent creates of one userName collide in
the store (409 uniqueness) rather than making two users."""

from __future__ import annotations

import hashlib
import re

# authz's identifiers, less those reserved for managed entities (a leading "_")
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,127}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_STEM_MAX = 100


def identifier_for(name: str) -> str:
    """`name` itself if it is an identifier, else `<name made safe>-<8 hex of its hash>`, the
    same for names equal ignoring case (userName is case-insensitive)."""
    if IDENTIFIER.fullmatch(name):
        return name
    stem = _UNSAFE.sub("_", name.casefold()).strip("_-")[:_STEM_MAX] or "scim"
    if not stem[0].isascii() or not stem[0].isalpha():
        stem = f"scim-{stem}"
    digest = hashlib.sha256(name.casefold().encode()).hexdigest()[:8]
    return f"{stem}-{digest}"

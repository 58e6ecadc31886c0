"""Scope paths: "acct", "acct/org", "acct/org/proj"."""

from __future__ import annotations

import re
from typing import Literal

from services.authz.domain.errors import InvalidArgument

# fullmatch, never match: `$` would accept a trailing newline.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
MAX_SCOPE = 3 * 128 + 2
LEVELS: tuple[Level, ...] = ("account", "organization", "project")

Level = Literal["account", "organization", "project"]


def check_identifier(value: str, field: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise InvalidArgument(
            field, f"{value!r} is not an identifier (^[A-Za-z_][A-Za-z0-9_-]{{0,127}}$)"
        )
    return value


def check_scope(path: str, field: str) -> str:
    """A valid scope path, or InvalidArgument naming the field."""
    parts = path.split("/")
    if not path or len(parts) > 3 or len(path) > MAX_SCOPE:
        raise InvalidArgument(field, f"{path!r} is not a scope (account[/organization[/project]])")
    for part in parts:
        check_identifier(part, field)
    return path


def is_reserved_account(path: str) -> bool:
    """Accounts whose name starts with '_' belong to the platform (`_platform`, `_global`)."""
    return path.startswith("_")


def level(path: str) -> Level:
    return LEVELS[path.count("/")]


def account(path: str) -> str:
    return path.split("/", 1)[0]


def ancestors_and_self(path: str) -> list[str]:
    """From the scope itself up to its account: a/o/p -> [a/o/p, a/o, a]."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def is_within(path: str, ancestor: str) -> bool:
    """path is ancestor itself or one of its descendants."""
    return path == ancestor or path.startswith(ancestor + "/")

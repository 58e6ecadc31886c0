"""Scope paths: "acct", "acct/org", "acct/org/proj"."""

from __future__ import annotations

import re
from typing import Literal

from services.authz.domain.errors import InvalidArgument

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
LEVELS: tuple[Level, ...] = ("account", "organization", "project")

Level = Literal["account", "organization", "project"]


def check_identifier(value: str, field: str) -> str:
    if not IDENTIFIER.match(value):
        raise InvalidArgument(
            field, f"{value!r} is not an identifier (^[A-Za-z_][A-Za-z0-9_-]{{0,127}}$)"
        )
    return value


def check_scope(path: str, field: str) -> str:
    """A valid scope path, or InvalidArgument naming the field."""
    parts = path.split("/")
    if not path or len(parts) > 3:
        raise InvalidArgument(field, f"{path!r} is not a scope (account[/organization[/project]])")
    for part in parts:
        check_identifier(part, field)
    return path


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

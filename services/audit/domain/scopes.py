"""Scope paths as the audit API accepts them: "acct", "acct/org", "acct/org/proj"."""

from __future__ import annotations

import re

from services.audit.domain.errors import InvalidArgument

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")


def check_scope(path: str, field: str) -> str:
    parts = path.split("/")
    if not path or len(parts) > 3 or not all(IDENTIFIER.match(p) for p in parts):
        raise InvalidArgument(field, f"{path!r} is not a scope (account[/organization[/project]])")
    return path

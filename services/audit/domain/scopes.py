"""Scope paths as the audit API accepts them: "acct", "acct/org", "acct/org/proj"."""

from __future__ import annotations

import re

from services.audit.domain.errors import InvalidArgument

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")


def check_scope(path: str, field: str) -> str:
    """Identifiers by DESIGN's rule, matched whole (`$` alone would admit a trailing newline)."""
    parts = path.split("/", 3)
    if not path or len(parts) > 3 or not all(IDENTIFIER.fullmatch(p) for p in parts):
        raise InvalidArgument(
            field, f"{path[:64]!r} is not a scope (account[/organization[/project]])"
        )
    return path

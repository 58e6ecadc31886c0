"""PATCH documents as identity providers send them, made RFC 7644 before scim2-models applies
them. Entra ID removes members with `{"op": "Remove", "path": "members", "value": [{"value":
id}]}`, which the RFC writes `members[value eq "id"]`. (Capitalized ops and string booleans such
as `"False"` the library reads as they come.)"""

from __future__ import annotations

from typing import Any

import scim2_models as scim


def _value_removals(operation: dict[str, Any]) -> list[dict[str, Any]] | None:
    """`remove members` with a value list, as one value-path removal per value; else None."""
    op = operation.get("op")
    path = operation.get("path")
    value = operation.get("value")
    if not (isinstance(op, str) and op.lower() == "remove" and isinstance(path, str)):
        return None
    if path.strip().lower() != "members" or not isinstance(value, list) or not value:
        return None
    ids = [v.get("value") if isinstance(v, dict) else None for v in value]
    if not all(isinstance(i, str) for i in ids):
        return None
    return [{"op": "remove", "path": f"members[value eq {scim.ScimFilter.quote(i)}]"} for i in ids]


def normalized(document: Any) -> Any:
    """The document with the quirks above rewritten; anything else untouched (the library
    judges it)."""
    if not isinstance(document, dict):
        return document
    operations = document.get("Operations")
    if not isinstance(operations, list):
        return document
    rewritten: list[Any] = []
    for operation in operations:
        removals = _value_removals(operation) if isinstance(operation, dict) else None
        rewritten.extend(removals if removals is not None else [operation])
    return {**document, "Operations": rewritten}

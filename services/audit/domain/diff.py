"""Field-level differences between an event's old and new state."""

from __future__ import annotations

import json
from typing import Any, NamedTuple


class FieldChange(NamedTuple):
    path: str
    old_json: str  # "" when the field was added
    new_json: str  # "" when the field was removed


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def diff(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Objects are compared key by key (recursively); anything else as a whole value."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in sorted(old.keys() | new.keys()):
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                changes.append(FieldChange(sub, _dump(old[key]), ""))
            elif key not in old:
                changes.append(FieldChange(sub, "", _dump(new[key])))
            else:
                changes += diff(old[key], new[key], sub)
        return changes
    if old == new:
        return []
    return [FieldChange(path, "" if old is None else _dump(old), "" if new is None else _dump(new))]

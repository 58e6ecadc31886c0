"""An event's old and new state as YAML, side by side, with the changed lines marked."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

import yaml

MASK = "***"  # what libs/outbox/masking.py puts in place of a secret


@dataclass(frozen=True)
class Row:
    kind: str  # "same", "changed", "removed" (left only), "added" (right only)
    left_no: int | None
    left: str
    right_no: int | None
    right: str

    @property
    def masked(self) -> bool:
        return _masked(self.left) or _masked(self.right)


def _masked(line: str) -> bool:
    return line.rstrip().endswith((f"'{MASK}'", f'"{MASK}"'))


def as_yaml(state_json: str) -> list[str]:
    """The state as YAML lines, keys sorted so that both sides line up; none when empty."""
    if not state_json:
        return []
    try:
        state: Any = json.loads(state_json)
    except ValueError:
        return state_json.splitlines()  # not JSON: shown as it came
    # One line per scalar however long (width): a folded line would show as a change of its own.
    text = yaml.safe_dump(
        state, sort_keys=True, default_flow_style=False, allow_unicode=True, width=2**31 - 1
    )
    return text.splitlines()


def side_by_side(old_json: str, new_json: str) -> list[Row]:
    old, new = as_yaml(old_json), as_yaml(new_json)
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                Row("same", i + 1, old[i], j + 1, new[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            left = (i + 1, old[i]) if i < i2 else (None, "")
            right = (j + 1, new[j]) if j < j2 else (None, "")
            kind = "changed" if left[0] and right[0] else ("removed" if left[0] else "added")
            rows.append(Row(kind, left[0], left[1], right[0], right[1]))
    return rows

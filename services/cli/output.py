"""What the commands print: rich tables for people, JSON / JSON lines / CSV / YAML for scripts.
Messages become plain dicts in protobuf's JSON mapping with the .proto field names, the same
shape `--file` reads back."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

# Data goes to stdout; errors and notes go to stderr (so `> file` keeps only data).
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


UNBROKEN = frozenset({"event_id", "occurred_at", "identifier", "id"})


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    yaml = "yaml"


def as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "yes" if value else ""
    return "" if value is None else str(value)


def column(row: dict[str, Any], path: str) -> Any:
    """A dotted path into a row: "principal.identifier"."""
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def emit(
    rows: Sequence[dict[str, Any]], fmt: Format, columns: Sequence[str], title: str = ""
) -> None:
    if fmt is Format.json:
        print(json.dumps(list(rows), indent=2))
    elif fmt is Format.jsonl:
        for row in rows:
            print(json.dumps(row, separators=(",", ":")))
    elif fmt is Format.yaml:
        print(yaml.safe_dump(list(rows), sort_keys=False), end="")
    elif fmt is Format.csv:
        print(csv_text(rows, columns), end="")
    else:
        table(rows, columns, title)


def emit_one(row: dict[str, Any], fmt: Format) -> None:
    """One entity: YAML by default (what `--file` takes back), JSON on request."""
    if fmt in (Format.json, Format.jsonl):
        print(json.dumps(row, indent=2 if fmt is Format.json else None))
    else:
        print(yaml.safe_dump(row, sort_keys=False), end="")


def csv_text(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(column(row, c)) for c in columns])
    return buffer.getvalue()


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "") -> None:
    grid = Table(title=title or None, show_lines=False)
    for name in columns:
        whole = name in UNBROKEN  # ids and times are copied whole: never folded
        grid.add_column(name.replace("_", " "), overflow="fold", no_wrap=whole)
    for row in rows:
        grid.add_row(*(cell(column(row, c)) for c in columns))
    out.print(grid)
    if not rows:
        err.print("(none)")

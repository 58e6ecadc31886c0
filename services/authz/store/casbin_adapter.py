"""Policy lines in table casbin_rule: plain async helpers, and pycasbin's async adapter over them.

The service reads and writes lines through the helpers, inside its own transactions; the adapter
lets pycasbin's AsyncEnforcer load and auto-save the same table (tests, tools, benchmarks).
Values are passed as query parameters, never as text lines, so commas and spaces survive.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from casbin.persist.adapters.asyncio import AsyncAdapter, AsyncBatchAdapter

from services.authz.domain.lines import PolicyLine

# A plain connection or one borrowed from a pool.
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy

VALUE_COLUMNS = ("v0", "v1", "v2", "v3", "v4", "v5", "v6")
# How many values each ptype of the model has; the table pads the rest with "".
ARITY = {"p": 7, "g": 2, "g2": 2}

FETCH_CHUNK = 10_000  # rows per round trip when reading every line
_LINE_COLUMNS = ", ".join(("ptype", *VALUE_COLUMNS))
_UNNEST = ", ".join(f"${i}::text[]" for i in range(1, len(VALUE_COLUMNS) + 2))
_SAME_LINE = " AND ".join(f"c.{column} = u.{column}" for column in ("ptype", *VALUE_COLUMNS))


def _line(row: asyncpg.Record) -> PolicyLine:
    """A row as a line: the ptype's arity of values (unknown ptypes: trailing "" stripped).
    Values are interned: a million lines repeat a few hundred thousand distinct strings."""
    ptype, *values = row  # the columns of _LINE_COLUMNS, in order
    arity = ARITY.get(ptype)
    if arity is None:
        while values and values[-1] == "":
            values.pop()
        arity = len(values)
    return PolicyLine(sys.intern(ptype), tuple(map(sys.intern, values[:arity])))


def _columns(lines: Iterable[PolicyLine]) -> list[list[str]]:
    """Distinct lines as column arrays (ptype, v0..v6), padded with "", for unnest()."""
    columns: list[list[str]] = [[] for _ in range(len(VALUE_COLUMNS) + 1)]
    for ptype, values in dict.fromkeys(lines):
        if len(values) > len(VALUE_COLUMNS):
            raise ValueError(f"a policy line has at most 7 values: {(ptype, values)!r}")
        padded = (ptype, *values, *[""] * (len(VALUE_COLUMNS) - len(values)))
        for column, value in zip(columns, padded, strict=True):
            column.append(value)
    return columns


async def fetch_lines(conn: Conn) -> list[PolicyLine]:
    """Every line, oldest first; read through a cursor, so that the rows of a million lines
    never sit in memory all at once (in a transaction of its own unless the caller has one)."""
    lines: list[PolicyLine] = []
    async with conn.transaction():
        cursor = await conn.cursor(f"SELECT {_LINE_COLUMNS} FROM casbin_rule ORDER BY id")
        while rows := await cursor.fetch(FETCH_CHUNK):
            lines.extend(map(_line, rows))
    return lines


async def insert_lines(conn: Conn, lines: Iterable[PolicyLine], source: str) -> list[PolicyLine]:
    """Insert lines for `source` in one statement; return those that were not already stored.

    A line already stored (by this or another source) is left as it is, source included.
    """
    rows = await conn.fetch(
        f"INSERT INTO casbin_rule ({_LINE_COLUMNS}, source)"
        f" SELECT u.*, ${len(VALUE_COLUMNS) + 2}::text FROM unnest({_UNNEST}) AS u"
        f" ON CONFLICT DO NOTHING RETURNING {_LINE_COLUMNS}",
        *_columns(lines),
        source,
    )
    return [_line(row) for row in rows]


async def delete_lines(conn: Conn, lines: Iterable[PolicyLine]) -> list[PolicyLine]:
    """Delete these exact lines; return those that were stored."""
    rows = await conn.fetch(
        f"DELETE FROM casbin_rule c USING unnest({_UNNEST}) AS u({_LINE_COLUMNS})"
        f" WHERE {_SAME_LINE} RETURNING c.ptype, {', '.join(f'c.{v}' for v in VALUE_COLUMNS)}",
        *_columns(lines),
    )
    return [_line(row) for row in rows]


async def delete_lines_by_source(conn: Conn, source: str) -> list[PolicyLine]:
    """Delete the lines of one source (an entity); return them, oldest first."""
    rows = await conn.fetch(
        f"WITH deleted AS (DELETE FROM casbin_rule WHERE source = $1 RETURNING id, {_LINE_COLUMNS})"
        f" SELECT {_LINE_COLUMNS} FROM deleted ORDER BY id",
        source,
    )
    return [_line(row) for row in rows]


def _model_lines(model: Any) -> list[PolicyLine]:
    """Every line a pycasbin model holds (sections p and g)."""
    return [
        PolicyLine(ptype, tuple(rule))
        for sec in ("p", "g")
        if sec in model.model
        for ptype, assertion in model.model[sec].items()
        for rule in assertion.policy
    ]


class CasbinRuleAdapter(AsyncAdapter, AsyncBatchAdapter):  # type: ignore[misc]
    """pycasbin's async adapter (with batches) over casbin_rule.

    Writes return True even when the table already agreed (line present, or absent): pycasbin
    updates its in-memory model regardless for removals, and refuses additions on False.
    """

    def __init__(self, pool: asyncpg.Pool, *, source: str = "") -> None:
        self._pool = pool
        self._source = source  # recorded on the lines this adapter inserts

    async def load_policy(self, model: Any) -> None:
        async with self._pool.acquire() as conn:
            lines = await fetch_lines(conn)
        for ptype, values in lines:
            # Like pycasbin's own adapters (load_policy_line): lines the model lacks are skipped.
            assertions = model.model.get(ptype[0], {})
            if ptype in assertions:
                assertions[ptype].policy.append(list(values))

    async def save_policy(self, model: Any) -> bool:
        """Make the table hold exactly the model's lines; lines already stored keep their source."""
        wanted = _model_lines(model)
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await fetch_lines(conn)
            await delete_lines(conn, set(stored) - set(wanted))
            await insert_lines(conn, wanted, self._source)
        return True

    async def add_policy(self, sec: str, ptype: str, rule: Sequence[str]) -> bool:
        return await self.add_policies(sec, ptype, [rule])

    async def add_policies(self, sec: str, ptype: str, rules: Iterable[Sequence[str]]) -> bool:
        async with self._pool.acquire() as conn:
            await insert_lines(conn, [PolicyLine(ptype, tuple(r)) for r in rules], self._source)
        return True

    async def remove_policy(self, sec: str, ptype: str, rule: Sequence[str]) -> bool:
        return await self.remove_policies(sec, ptype, [rule])

    async def remove_policies(self, sec: str, ptype: str, rules: Iterable[Sequence[str]]) -> bool:
        async with self._pool.acquire() as conn:
            await delete_lines(conn, [PolicyLine(ptype, tuple(r)) for r in rules])
        return True

    async def remove_filtered_policy(
        self, sec: str, ptype: str, field_index: int, *field_values: str
    ) -> bool:
        """Delete the lines whose values from field_index on match; "" matches any (pycasbin's)."""
        if field_index < 0 or field_index + len(field_values) > len(VALUE_COLUMNS):
            raise ValueError(f"no such fields: {field_index}..{field_index + len(field_values)}")
        conditions, args = ["ptype = $1"], [ptype]
        for offset, value in enumerate(field_values):
            if value != "":
                args.append(value)
                conditions.append(f"{VALUE_COLUMNS[field_index + offset]} = ${len(args)}")
        async with self._pool.acquire() as conn:
            await conn.execute(f"DELETE FROM casbin_rule WHERE {' AND '.join(conditions)}", *args)
        return True

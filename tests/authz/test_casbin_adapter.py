"""casbin_rule on a real PostgreSQL: the line helpers, and AsyncEnforcer through the adapter."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import casbin
import pytest

import services.authz.store
from services.authz.casbin_model.enforcer import (
    MODEL_PATH,
    casbin_request,
    plain_enforcer,
    register_functions,
)
from services.authz.domain.lines import (
    ANY,
    EXACT,
    TREE,
    CheckRequest,
    PolicyLine,
    grant,
    membership,
    role_permission,
)
from services.authz.store.casbin_adapter import (
    CasbinRuleAdapter,
    delete_lines,
    delete_lines_by_source,
    fetch_lines,
    insert_lines,
)

pytestmark = pytest.mark.integration

MIGRATION = Path(services.authz.store.__file__).parent / "migrations" / "0001_initial.sql"
ALICE, BOB, DEVS = "user:a/alice", "user:a/bob", "group:a/devs"
VIEWER, DEPLOYER = "role:_project_viewer", "role:a/o/deployer"
VIEW, EXECUTE = "core_pipeline_view", "core_pipeline_execute"

LINES = [
    role_permission(VIEWER, VIEW),
    role_permission(DEPLOYER, EXECUTE),
    membership(ALICE, DEVS),
    grant(BOB, VIEWER, "a/o/p", EXACT, ANY, ANY, "a/o/p/b1"),
    grant(DEVS, DEPLOYER, "a/o", TREE, "PIPELINE", "deploy", "a/o/b2"),
    grant(ALICE, VIEWER, "a", TREE, "SECRET", ANY, "a/b3"),
]
REQUESTS = [
    CheckRequest(*values)
    for values in itertools.product(
        [ALICE, BOB, DEVS],
        ["a", "a/o", "a/o/p", "a/o/q"],
        ["PIPELINE", "SECRET"],
        ["deploy", "build", ""],
        [VIEW, EXECUTE],
    )
]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as pool:
        await pool.execute(MIGRATION.read_text())
        yield pool


async def stored(pool: asyncpg.Pool) -> set[PolicyLine]:
    async with pool.acquire() as conn:
        return set(await fetch_lines(conn))


async def source_of(pool: asyncpg.Pool, line: PolicyLine) -> str | None:
    padded = [*line.values, *[""] * (7 - len(line.values))]
    where = " AND ".join(f"v{i} = ${i + 2}" for i in range(7))
    source: str | None = await pool.fetchval(
        f"SELECT source FROM casbin_rule WHERE ptype = $1 AND {where}", line.ptype, *padded
    )
    return source


async def loaded_enforcer(pool: asyncpg.Pool, source: str = "") -> Any:
    enforcer = casbin.AsyncEnforcer(str(MODEL_PATH), CasbinRuleAdapter(pool, source=source))
    register_functions(enforcer)
    await enforcer.load_policy()
    return enforcer


def model_lines(enforcer: Any) -> set[PolicyLine]:
    return {
        PolicyLine(ptype, tuple(rule))
        for ptype in ("p", "g", "g2")
        for rule in enforcer.get_model().get_policy(ptype[0], ptype)
    }


async def test_lines_round_trip_with_their_arity(pool: asyncpg.Pool) -> None:
    odd = grant("user:a/x, y", VIEWER, "a", EXACT, ANY, " spaced ", "a/b,9")
    async with pool.acquire() as conn:
        assert await insert_lines(conn, [*LINES, odd, LINES[0]], "seed") == [*LINES, odd]
        assert await fetch_lines(conn) == [*LINES, odd]
        # Already stored: nothing inserted, and the first source stays.
        assert await insert_lines(conn, LINES[:2], "other") == []
    assert {await source_of(pool, line) for line in [*LINES, odd]} == {"seed"}


async def test_delete_by_source_returns_only_that_sources_lines(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await insert_lines(conn, LINES[:3], "role:a/o/deployer")
        await insert_lines(conn, LINES[3:], "role_binding:a/o/p/b1")
        assert await delete_lines_by_source(conn, "role:a/o/deployer") == LINES[:3]
        assert await delete_lines_by_source(conn, "role:a/o/deployer") == []
        assert await delete_lines(conn, [LINES[0], LINES[4]]) == [LINES[4]]
        assert await fetch_lines(conn) == [LINES[3], LINES[5]]


async def test_async_enforcer_through_adapter_decides_like_plain_enforcer(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await insert_lines(conn, LINES, "seed")
    through_adapter = await loaded_enforcer(pool)
    plain = plain_enforcer(LINES)
    assert model_lines(through_adapter) == set(LINES)
    decisions = [through_adapter.enforce(*casbin_request(req)) for req in REQUESTS]
    assert decisions == [plain.enforce(*casbin_request(req)) for req in REQUESTS]
    assert 0 < sum(decisions) < len(decisions)
    assert through_adapter.enforce(ALICE, "a/o/p", "PIPELINE", "deploy", EXECUTE)


async def test_enforcer_writes_are_saved_through_the_adapter(pool: asyncpg.Pool) -> None:
    enforcer = await loaded_enforcer(pool, source="casbin-api")
    assert await enforcer.add_named_policies("p", [list(line.values) for line in LINES[3:]])
    assert await enforcer.add_named_grouping_policy("g", ALICE, DEVS)
    assert await enforcer.add_named_grouping_policies("g2", [[VIEWER, VIEW], [DEPLOYER, EXECUTE]])
    assert await stored(pool) == set(LINES) == model_lines(enforcer)
    assert {await source_of(pool, line) for line in LINES} == {"casbin-api"}

    assert await enforcer.remove_named_grouping_policy("g", ALICE, DEVS)
    assert await enforcer.remove_named_policies("p", [list(LINES[3].values)])
    assert await stored(pool) == set(LINES) - {LINES[2], LINES[3]} == model_lines(enforcer)
    assert not enforcer.enforce(ALICE, "a/o/p", "PIPELINE", "deploy", EXECUTE)


async def test_filtered_removal_treats_empty_values_as_any(pool: asyncpg.Pool) -> None:
    extra = [
        grant(ALICE, VIEWER, "a/o", EXACT, "PIPELINE", "build", "a/o/b4"),
        grant(BOB, DEPLOYER, "a/o", TREE, "SECRET", "deploy", "a/o/b5"),
    ]
    async with pool.acquire() as conn:
        await insert_lines(conn, [*LINES, *extra], "seed")
    enforcer = await loaded_enforcer(pool)
    # scope a/o, any mode, resource type PIPELINE: two lines (of DEVS and of ALICE).
    assert await enforcer.remove_filtered_named_policy("p", 2, "a/o", "", "PIPELINE")
    assert await stored(pool) == set(LINES) - {LINES[4]} | {extra[1]} == model_lines(enforcer)
    # Every p line of BOB.
    assert await enforcer.remove_filtered_named_policy("p", 0, BOB)
    assert await stored(pool) == {*LINES[:3], LINES[5]} == model_lines(enforcer)
    # The adapter alone, on a grouping ptype: only g2 lines of the deployer role go.
    adapter = CasbinRuleAdapter(pool)
    assert await adapter.remove_filtered_policy("g", "g2", 0, DEPLOYER)
    assert await stored(pool) == {LINES[0], LINES[2], LINES[5]}
    with pytest.raises(ValueError, match="no such fields"):
        await adapter.remove_filtered_policy("p", "p", 6, "x", "y")


async def test_save_policy_makes_the_table_match_the_model(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await insert_lines(conn, LINES, "seed")
    enforcer = await loaded_enforcer(pool, source="saved")
    enforcer.enable_auto_save(False)
    added = grant(BOB, DEPLOYER, "b", EXACT, ANY, ANY, "b/b6")
    assert await enforcer.add_named_policy("p", *added.values)
    assert await enforcer.remove_named_grouping_policy("g", ALICE, DEVS)
    assert await stored(pool) == set(LINES)  # auto-save off: nothing written yet

    await enforcer.save_policy()
    assert await stored(pool) == set(LINES) - {LINES[2]} | {added} == model_lines(enforcer)
    assert await source_of(pool, added) == "saved"
    assert await source_of(pool, LINES[0]) == "seed"  # untouched lines keep their source

"""The audit commands through the installed command, over events stored in the audit store."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.audit.domain.records import AuditRecord
from tests.audit.query_fixtures import NOW, QueryApi, record, store
from tests.cli.test_rbac import as_admin

pytestmark = pytest.mark.integration

PRINCIPALS = [("USER", "alice"), ("USER", "bob"), ("SERVICE_ACCOUNT", "ci")]
ACTIONS = ["CREATE", "UPDATE", "DELETE"]
SCOPES = [("a", "", ""), ("a", "o", ""), ("a", "o", "p")]


def dataset() -> list[AuditRecord]:
    """40 events over 20 days (2 of them older than 7 days every 3.5), varied on each field."""
    records = []
    for i in range(40):
        kind, who = PRINCIPALS[(i // 2) % 3]
        _account, org, project = SCOPES[i % 3]
        records.append(
            record(
                i,
                occurred_at=NOW - timedelta(hours=i * 12 + 1),
                principal_type=kind,
                principal_id=who,
                principal_email=f"{who}@example.com",
                action=ACTIONS[i % 3 if i % 5 else 1],
                resource_type=["ROLE", "USER_GROUP"][i % 2],
                organization=org,
                project=project,
            )
        )
    return records


def ids(records: list[AuditRecord]) -> set[str]:
    return {str(r.event_id) for r in records}


async def test_search_show_filters_export_and_verify(api: QueryApi, tmp_path: Path) -> None:
    records = dataset()
    changed = record(
        100,
        occurred_at=NOW - timedelta(minutes=5),
        action="UPDATE",
        resource_id="runner",
        old_state={"name": "Runner", "permissions": ["core_pipeline_view"]},
        new_state={"name": "Runner", "permissions": ["core_pipeline_execute"], "note": "x"},
    )
    await store(api.database_url, [*records, changed])
    everything = [*records, changed]
    recent = [r for r in everything if r.occurred_at > NOW - timedelta(days=7)]
    cli = as_admin(api, tmp_path)

    # Filters as flags, three machine formats parsed back.
    wanted = [r for r in recent if r.principal_id == "alice" and r.action == "UPDATE"]
    assert wanted
    found = await cli("audit", "search", "--since", "7d", "--user", "alice",
                      "--action", "update", "-o", "json")  # fmt: skip
    assert found.code == 0, found.text
    events = json.loads(found.out)
    assert {e["event_id"] for e in events} == ids(wanted)
    assert {e["action"] for e in events} == {"ACTION_UPDATE"}

    in_org = [r for r in recent if r.organization == "o" and r.resource_type == "ROLE"]
    lines = await cli("audit", "search", "--since", "7d", "--scope", "a/o", "--type", "ROLE",
                      "-o", "jsonl")  # fmt: skip
    assert in_org
    assert {json.loads(x)["event_id"] for x in lines.out.splitlines()} == ids(in_org)
    only_org = await cli("audit", "search", "--since", "7d", "--scope", "a/o",
                         "--exclude-child-scopes", "--principal", "ci", "-o", "csv")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(only_org.out)))
    expected = [r for r in recent if (r.organization, r.project, r.principal_id) == ("o", "", "ci")]
    assert expected, only_org.text
    assert {row["event_id"] for row in rows} == ids(expected), only_org.text
    assert {(row["scope"], row["principal"]) for row in rows} == {("a/o", "ci")}

    # --from/--to, and --all paging through every event in pages of 7.
    start, end = NOW - timedelta(days=15), NOW - timedelta(days=3)
    ranged = [r for r in everything if start <= r.occurred_at < end]
    paged = await cli("audit", "search", "--from", start.isoformat(), "--to", end.isoformat(),
                      "--all", "--page-size", "7", "-o", "jsonl")  # fmt: skip
    got = [json.loads(line)["event_id"] for line in paged.out.splitlines()]
    assert len(got) == len(ranged) > 7, paged.text
    assert set(got) == ids(ranged), paged.text
    limited = await cli("audit", "search", "--since", "30d", "--limit", "3", "-o", "json")
    assert len(json.loads(limited.out)) == 3
    texts = await cli("audit", "search", "--since", "7d", "--text", "runner", "-o", "json")
    assert [e["event_id"] for e in json.loads(texts.out)] == [str(changed.event_id)]

    # show: the details and the before/after diff, coloured when the terminal has colour.
    shown = await cli("audit", "show", str(changed.event_id))
    assert shown.code == 0, shown.text
    assert str(changed.event_id) in shown.out
    assert "runner" in shown.out
    diff = shown.out.split("\n\n", 1)[1].splitlines()
    assert "~ permissions" in diff
    assert '  - ["core_pipeline_view"]' in diff
    assert '  + ["core_pipeline_execute"]' in diff
    assert '+ note: "x"' in diff
    coloured = await cli("audit", "show", str(changed.event_id), FORCE_COLOR="1", NO_COLOR="")
    assert "\x1b[31m" in coloured.out
    assert "\x1b[32m" in coloured.out
    as_json = json.loads((await cli("audit", "show", str(changed.event_id), "-o", "json")).out)
    assert {d["path"] for d in as_json["diff"]} == {"permissions", "note"}
    missing = await cli("audit", "show", str(uuid.uuid4()))
    assert missing.code == 3, missing.text
    assert missing.err.startswith("error: NOT_FOUND"), missing.text
    malformed = await cli("audit", "show", "not-an-id")
    assert malformed.code == 2, malformed.text
    assert "event_id" in malformed.err, malformed.text
    bad_action = await cli("audit", "search", "--action", "explode")
    assert bad_action.code == 2
    assert "--action" in bad_action.err

    # Saved filters: save, list, use by name (a flag given overrides it), delete.
    saved = await cli("audit", "filters", "save", "bob-deletes", "--user", "bob", "--action",
                      "delete", "--preset", "30d", "--visibility", "everyone")  # fmt: skip
    assert saved.code == 0, saved.text
    listed = json.loads((await cli("audit", "filters", "list", "-o", "json")).out)
    assert [(f["name"], f["visibility"]) for f in listed] == [
        ("bob-deletes", "VISIBILITY_EVERYONE")
    ]
    by_name = await cli("audit", "search", "--saved", "bob-deletes", "--all", "-o", "json")
    bob_deletes = [r for r in everything if r.principal_id == "bob" and r.action == "DELETE"
                   and r.occurred_at > NOW - timedelta(days=30)]  # fmt: skip
    assert bob_deletes
    assert {e["event_id"] for e in json.loads(by_name.out)} == ids(bob_deletes)
    narrowed = await cli("audit", "search", "--saved", "bob-deletes", "--since", "7d", "-o", "json")
    assert {e["event_id"] for e in json.loads(narrowed.out)} == ids(
        [r for r in bob_deletes if r.occurred_at > NOW - timedelta(days=7)]
    )
    assert (await cli("audit", "filters", "delete", "bob-deletes")).code == 0
    assert json.loads((await cli("audit", "filters", "list", "-o", "json")).out) == []
    unknown = await cli("audit", "search", "--saved", "bob-deletes")
    assert unknown.code == 3
    assert "bob-deletes" in unknown.err

    # export: every event of the range, as CSV, into a file.
    target = tmp_path / "trail.csv"
    exported = await cli("audit", "export", "--since", "30d", "--format", "csv",
                         "--out", str(target))  # fmt: skip
    assert exported.code == 0, exported.text
    exported_ids = {row["event_id"] for row in csv.DictReader(io.StringIO(target.read_text()))}
    assert exported_ids == ids([r for r in everything if r.occurred_at > NOW - timedelta(days=30)])

    # verify: intact, then a forged row is named (exit 1); another account is refused.
    intact = await cli("audit", "verify", "a")
    assert intact.code == 0, intact.text
    assert intact.out.startswith("intact"), intact.text
    assert f"{len(everything)} events" in intact.out
    conn = await asyncpg.connect(api.database_url)
    try:
        await conn.execute(
            "UPDATE audit_events SET resource_id = 'forged' WHERE event_id = $1",
            records[3].event_id,
        )
    finally:
        await conn.close()
    broken = await cli("audit", "verify", "a", "-o", "json")
    assert broken.code == 1, broken.text
    assert json.loads(broken.out)["broken_event_id"] == str(records[3].event_id)
    other = await cli("audit", "verify", "b")
    assert other.code == 4, other.text
    assert other.err.startswith("error: PERMISSION_DENIED"), other.text


async def test_tail_follows_new_events(api: QueryApi, tmp_path: Path) -> None:
    before = record(1, occurred_at=datetime.now(UTC) - timedelta(seconds=30), resource_id="old")
    await store(api.database_url, [before])
    cli = as_admin(api, tmp_path)
    process = await cli.start("audit", "tail", "--since", "5m", "--interval", "0.2",
                              "--max-events", "2", "--timeout", "60", "-o", "jsonl")  # fmt: skip
    assert process.stdout is not None
    first = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
    assert first["event_id"] == str(before.event_id)
    new = record(2, occurred_at=datetime.now(UTC), resource_id="new")
    await store(api.database_url, [new])
    second = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
    assert second["event_id"] == str(new.event_id)
    assert await asyncio.wait_for(process.wait(), 60) == 0
    assert await process.stdout.read() == b""  # stopped after --max-events, nothing repeated

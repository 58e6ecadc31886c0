"""The audit domain without I/O: the hash chain, partitions; and the contract checks of the
projector's decoding edge (services/audit/event_decoding.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.v1 import event_pb2 as ev
from libs.events import codec
from services.audit.domain import partitions
from services.audit.domain.chain import (
    GENESIS,
    ChainedRow,
    ChainKeys,
    canonical_bytes,
    first_broken_link,
    link,
)
from services.audit.domain.records import AuditRecord, InvalidEvent
from services.audit.event_decoding import record_from_bytes


def event(**overrides: Any) -> ev.AuditEvent:
    e = codec.new_event(
        module="authz",
        scope="acct/org",
        principal=ev.Principal(type=ev.PRINCIPAL_TYPE_USER, identifier="alice"),
        action=ev.ACTION_UPDATE,
        resource_type="ROLE",
        resource_identifier="viewer",
        old_state={"permissions": ["a"]},
        new_state={"permissions": ["a", "b"]},
        request=codec.Request("10.0.0.1", "grpc-python", "req-1"),
        policy_revision=7,
    )
    for name, value in overrides.items():
        if value is None:
            e.ClearField(name)  # type: ignore[arg-type]
        else:
            setattr(e, name, value)
    return e


def test_a_valid_event_becomes_a_record() -> None:
    e = event()
    r = record_from_bytes(e.SerializeToString())
    assert str(r.event_id) == e.event_id
    assert (r.account, r.organization, r.project) == ("acct", "org", "")
    assert r.action == "UPDATE"
    assert r.principal_type == "USER"
    assert r.new_state == {"permissions": ["a", "b"]}
    assert r.occurred_at.tzinfo is not None
    assert r.occurred_at.microsecond == e.occurred_at.nanos // 1000


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xff\xff garbage", "undecodable"),
        (event(event_id="").SerializeToString(), "missing event_id"),
        (event(event_id="not-a-uuid").SerializeToString(), "is not a UUID"),
        (event(occurred_at=None).SerializeToString(), "missing occurred_at"),
        (event(scope=None).SerializeToString(), "missing scope.account"),
        (event(new_state_json="{not json").SerializeToString(), "new_state_json is not JSON"),
    ],
)
def test_contract_breaches_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        record_from_bytes(payload)


def _at(seconds: int, nanos: int) -> bytes:
    e = event()
    e.occurred_at.seconds, e.occurred_at.nanos = seconds, nanos
    return e.SerializeToString()


@given(
    seconds=st.integers(-62135596800, 253402300799),  # what a datetime holds: years 1..9999
    nanos=st.integers(0, 999_999_999),
)
def test_a_timestamp_in_range_reads_as_utc_microseconds(seconds: int, nanos: int) -> None:
    if seconds == 0 and nanos == 0:
        return  # reads as absent
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    assert record_from_bytes(_at(seconds, nanos)).occurred_at == expected.replace(
        microsecond=nanos // 1000
    )


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(1, -1), (1, 1_000_000_000), (253402300800, 0), (-62135596801, 0), (2**62, 0), (-(2**62), 0)],
)
def test_a_timestamp_out_of_range_is_refused(seconds: int, nanos: int) -> None:
    with pytest.raises(InvalidEvent, match="occurred_at out of range"):
        record_from_bytes(_at(seconds, nanos))


def test_an_action_newer_than_the_reader_is_kept() -> None:
    e = event()
    e.action = 999  # type: ignore[assignment]
    assert record_from_bytes(e.SerializeToString()).action == "999"


KEYS = ChainKeys("k1", {"k1": b"k" * 32})


def chain(records: list[AuditRecord]) -> list[ChainedRow]:
    rows, previous = [], GENESIS
    for seq, r in enumerate(records, start=1):
        current = link(KEYS.keys["k1"], "k1", seq, previous, canonical_bytes(r))
        rows.append(ChainedRow(seq, previous, current, "k1", r))
        previous = current
    return rows


def records(n: int) -> list[AuditRecord]:
    return [record_from_bytes(event(policy_revision=i).SerializeToString()) for i in range(n)]


RECORDS = records(12)


def test_an_intact_chain_verifies() -> None:
    assert first_broken_link(chain(RECORDS), KEYS) is None
    assert (
        first_broken_link(chain(RECORDS)[5:], KEYS) is None
    )  # a later range anchors on its first row


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, len(RECORDS) - 1),
    field=st.sampled_from(
        ["principal_id", "action", "resource_id", "client_ip", "new_state", "policy_revision"]
    ),
)
def test_any_edited_row_is_named_as_the_first_broken_link(index: int, field: str) -> None:
    rows = chain(RECORDS)
    old = rows[index].record
    value: Any = {"tampered": True} if field == "new_state" else (
        12345 if field == "policy_revision" else "tampered"
    )  # fmt: skip
    rows[index] = dataclasses.replace(rows[index], record=old._replace(**{field: value}))
    broken = first_broken_link(rows, KEYS)
    assert broken is not None
    assert broken.seq == index + 1
    assert broken.event_id == str(old.event_id)


def test_a_deleted_row_is_a_gap() -> None:
    rows = chain(RECORDS)
    del rows[4]
    broken = first_broken_link(rows, KEYS)
    assert broken is not None
    assert broken.seq == 6
    assert "missing" in broken.reason


def test_partitions_around_now_and_expiry() -> None:
    now = datetime(2026, 1, 15, tzinfo=UTC)
    months = partitions.months_to_have(now, behind=1, ahead=2)
    names = [partitions.partition_name(m) for m in months]
    assert names == [f"audit_events_{m}" for m in ("2025_12", "2026_01", "2026_02", "2026_03")]
    old = [datetime(2023, 12, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)]
    # Two years' retention on 2026-01-15: December 2023 ended before 2024-01-16, January 2024 not.
    assert partitions.expired(old, now, 730) == [old[0]]

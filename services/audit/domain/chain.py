"""The per-account SHA-256 hash chain: each event's hash covers the previous hash of its
account and the event's canonical bytes, in projection order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from services.audit.domain.records import AuditRecord

GENESIS = bytes(32)  # the "previous hash" of an account's first event


def canonical_bytes(r: AuditRecord) -> bytes:
    """A deterministic encoding of everything the store keeps of the event."""
    fields = [
        str(r.event_id),
        r.occurred_at.isoformat(timespec="microseconds"),
        r.account,
        r.organization,
        r.project,
        r.module,
        r.principal_type,
        r.principal_id,
        r.principal_email,
        r.action,
        r.resource_type,
        r.resource_id,
        r.resource_labels,
        r.client_ip,
        r.user_agent,
        r.request_id,
        r.old_state,
        r.new_state,
        r.policy_revision,
        r.schema_version,
    ]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(previous: bytes, record: AuditRecord) -> bytes:
    return hashlib.sha256(previous + canonical_bytes(record)).digest()


@dataclass(frozen=True)
class ChainedRow:
    """A stored row with its place in its account's chain."""

    seq: int
    prev_hash: bytes
    hash: bytes
    record: AuditRecord


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    event_id: str
    reason: str


def first_broken_link(rows: Iterable[ChainedRow]) -> BrokenLink | None:
    """Check rows of one account in seq order. The first row's prev_hash anchors the range
    (GENESIS when it is the account's first event); after it, every row must follow the one
    before it, with no gap."""
    previous: ChainedRow | None = None
    for row in rows:
        where = (row.seq, str(row.record.event_id))
        if previous is None and row.seq == 1 and row.prev_hash != GENESIS:
            return BrokenLink(*where, "the first event does not start from the genesis hash")
        if previous is not None:
            if row.seq != previous.seq + 1:
                return BrokenLink(*where, f"events {previous.seq + 1}..{row.seq - 1} are missing")
            if row.prev_hash != previous.hash:
                return BrokenLink(*where, "previous hash does not match the event before it")
        if link(row.prev_hash, row.record) != row.hash:
            return BrokenLink(*where, "the event's contents do not match its hash")
        previous = row
    return None

"""The per-account keyed hash chain: each event's link is an HMAC-SHA256, under a key kept
outside the database, of its position, the previous link of its account and the event's
canonical bytes. The account's head (last position and link) is signed with the same keys, so
deleting the newest events (a truncated tail) no longer matches the head, and nobody who can
only write the database can recompute either.

Rows and heads record the id of the key that made them: keys rotate without rewriting history,
and old keys stay configured for verification only."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.audit.domain.records import AuditRecord

GENESIS = bytes(32)  # the "previous link" of an account's first event
LINK_DOMAIN = b"audit-chain-link/v2\x00"
HEAD_DOMAIN = b"audit-chain-head/v2\x00"


@dataclass(frozen=True)
class ChainKeys:
    """The key that signs new links (`current_id`) and every key that may verify old ones."""

    current_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if not self.current_id or self.current_id not in self.keys:
            raise ValueError("the current chain key id has no key")
        if any(len(k) < 16 for k in self.keys.values()):
            raise ValueError("a chain key must have at least 16 bytes")

    def key(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)


# json.dumps builds a new encoder on every call with these options: one, made once.
_canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


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
    if r.trace_id:  # only when set: rows from before the field keep their bytes (and links)
        fields.append(r.trace_id)
    return _canonical_json(fields).encode()


def _frame(*parts: bytes) -> bytes:
    """Length-prefixed parts: no two different inputs share an encoding."""
    return b"".join(len(p).to_bytes(8, "big") + p for p in parts)


def link(key: bytes, key_id: str, seq: int, previous: bytes, canonical: bytes) -> bytes:
    """The link of the event whose canonical_bytes are `canonical`."""
    message = _frame(key_id.encode(), str(seq).encode(), previous, canonical)
    return hmac.new(key, LINK_DOMAIN + message, hashlib.sha256).digest()


def head_mac(key: bytes, key_id: str, account: str, seq: int, last: bytes) -> bytes:
    message = _frame(key_id.encode(), account.encode(), str(seq).encode(), last)
    return hmac.new(key, HEAD_DOMAIN + message, hashlib.sha256).digest()


@dataclass(frozen=True)
class ChainedRow:
    """A stored row with its place in its account's chain."""

    seq: int
    prev_hash: bytes
    hash: bytes
    key_id: str
    record: AuditRecord


@dataclass(frozen=True)
class ChainHead:
    """An account's signed head: its last position and link."""

    account: str
    seq: int
    hash: bytes
    key_id: str
    mac: bytes


@dataclass(frozen=True)
class Newest:
    """The newest stored row of an account (by position), whatever the range checked."""

    seq: int
    hash: bytes
    event_id: str


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    event_id: str
    reason: str


def sign_head(keys: ChainKeys, account: str, seq: int, last: bytes) -> ChainHead:
    key = keys.keys[keys.current_id]
    mac = head_mac(key, keys.current_id, account, seq, last)
    return ChainHead(account, seq, last, keys.current_id, mac)


def first_broken_link(rows: Iterable[ChainedRow], keys: ChainKeys) -> BrokenLink | None:
    """Check rows of one account in seq order. The first row's prev_hash anchors the range
    (GENESIS when it is the account's first event); after it, every row must follow the one
    before it, with no gap, and carry the link its key makes."""
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
        key = keys.key(row.key_id)
        if key is None:
            return BrokenLink(*where, f"chain key {row.key_id!r} is not configured")
        expected = link(key, row.key_id, row.seq, row.prev_hash, canonical_bytes(row.record))
        if not hmac.compare_digest(expected, row.hash):
            return BrokenLink(*where, "the event's contents do not match its keyed hash")
        previous = row
    return None


def tail_problem(
    head: ChainHead | None, newest: Newest | None, keys: ChainKeys
) -> BrokenLink | None:
    """Whether the newest stored event is the one the signed head names: events deleted from
    the end, or a head rewritten or removed, show here."""
    if head is None:
        if newest is None:
            return None
        return BrokenLink(newest.seq, newest.event_id, "the account has events but no chain head")
    key = keys.key(head.key_id)
    if key is None:
        return BrokenLink(head.seq, "", f"the head's chain key {head.key_id!r} is not configured")
    expected = head_mac(key, head.key_id, head.account, head.seq, head.hash)
    if not hmac.compare_digest(expected, head.mac):
        return BrokenLink(head.seq, "", "the chain head's signature does not verify")
    if newest is None or newest.seq < head.seq:
        have = 0 if newest is None else newest.seq
        return BrokenLink(
            have + 1,
            "",
            f"truncated tail: the signed head is at position {head.seq},"
            f" the newest stored event at {have}",
        )
    if newest.seq > head.seq:
        return BrokenLink(newest.seq, newest.event_id, "events beyond the signed chain head")
    if not hmac.compare_digest(newest.hash, head.hash):
        return BrokenLink(newest.seq, newest.event_id, "the newest event is not the signed head")
    return None


@dataclass(frozen=True)
class RecordedHead:
    """A head recorded outside the database earlier (position and link): the chain must still
    hold that link at that position, and must not have shrunk below it."""

    seq: int
    hash: bytes
    stored_hash: bytes | None  # what the store now holds at that position


def against_record(head: ChainHead | None, recorded: RecordedHead) -> BrokenLink | None:
    now = 0 if head is None else head.seq
    if now < recorded.seq:
        return BrokenLink(
            recorded.seq,
            "",
            f"rolled back: the recorded head is at position {recorded.seq},"
            f" the stored one at {now}",
        )
    if recorded.stored_hash is None or not hmac.compare_digest(recorded.stored_hash, recorded.hash):
        return BrokenLink(
            recorded.seq, "", "the event at the recorded head is not the recorded one"
        )
    return None


def verify(
    rows: list[ChainedRow],
    head: ChainHead | None,
    newest: Newest | None,
    keys: ChainKeys,
    recorded: RecordedHead | None = None,
) -> BrokenLink | None:
    """The range's links, the account's tail against its signed head, and the head against one
    recorded outside the database, when given."""
    found = first_broken_link(rows, keys) or tail_problem(head, newest, keys)
    if found is None and recorded is not None:
        found = against_record(head, recorded)
    return found

"""BatchCheck at the level of its bytes (services/authz/grpc_api/batch_check_wire.py): the request
read as the message plus its items' bytes, the response joined from result entries. Both must
be exactly what the generated (de)serializers would read and write, for every input."""

from __future__ import annotations

import random

import grpc
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from authz.v1 import authz_pb2 as pb
from services.authz.domain.required_permissions import CHECK_FOR_OTHERS
from services.authz.grpc_api.access_servicer import NOT_FOR_OTHERS
from services.authz.grpc_api.batch_check_wire import (
    ALLOWED,
    DENIED,
    read_batch_check,
    response_bytes,
    result_entry,
)

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # no lone surrogates
principals = st.builds(
    pb.Principal,
    type=st.integers(0, 4),  # proto3 enums are open: an unknown number parses too
    identifier=text,
    scope=text,
)
check_requests = st.builds(
    pb.CheckRequest,
    principal=principals,
    resource_scope=text,
    resource_type=text,
    resource_identifier=text,
    permission=text,
    at_least_revision=st.integers(0, 2**40),
)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_by_field(item: pb.CheckRequest, rng: random.Random) -> bytes:
    """The item encoded one field at a time, in a random order, some fields twice: not how
    SerializeToString writes it, but the same message to a parser (the last value wins,
    sub-messages merge)."""
    parts = []
    for descriptor, value in item.ListFields():
        alone = pb.CheckRequest()
        if descriptor.message_type is not None:
            getattr(alone, descriptor.name).CopyFrom(value)
        else:
            setattr(alone, descriptor.name, value)
        encoded = alone.SerializeToString()
        parts += [encoded] * rng.choice((1, 1, 2))
    rng.shuffle(parts)
    return b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(st.lists(check_requests, max_size=20), st.integers(0, 2**62), st.randoms())
def test_items_are_the_bytes_the_client_sent_in_order(
    items: list[pb.CheckRequest], revision: int, rng: random.Random
) -> None:
    encoded = [field_by_field(item, rng) for item in items]
    fields = [b"\x0a" + _varint(len(e)) + e for e in encoded]
    # at_least_revision anywhere among the items: a parser takes fields in any order
    fields.insert(rng.randint(0, len(fields)), b"\x10" + _varint(revision))
    data = b"".join(fields)
    read = read_batch_check(data)
    assert read.at_least_revision == revision
    assert read.items == encoded
    assert [pb.CheckRequest.FromString(e) for e in read.items] == items
    assert list(pb.BatchCheckRequest.FromString(data).items) == items


def mutated(data: bytes, rng: random.Random) -> bytes:
    """A valid request with a byte changed, some bytes cut or inserted."""
    if not data:
        return bytes([rng.randrange(256)])
    at = rng.randrange(len(data))
    kind = rng.randrange(3)
    if kind == 0:
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    if kind == 1:
        return data[:at]
    return data[:at] + bytes([rng.randrange(256)]) + data[at:]


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=64),
        st.tuples(st.lists(check_requests, max_size=5), st.randoms()).map(
            lambda t: mutated(pb.BatchCheckRequest(items=t[0]).SerializeToString(), t[1])
        ),
    )
)
def test_a_request_fails_exactly_when_the_generated_deserializer_fails(data: bytes) -> None:
    try:
        expected: pb.BatchCheckRequest | None = pb.BatchCheckRequest.FromString(data)
    except DecodeError:
        expected = None
    try:
        read = read_batch_check(data)
    except DecodeError:
        assert expected is None
        return
    assert expected is not None
    assert read.at_least_revision == expected.at_least_revision
    # Each item parses alone as the item the generated deserializer gave: the handler parses
    # an item it has not seen before from its bytes.
    assert [pb.CheckRequest.FromString(e) for e in read.items] == list(expected.items)


item_errors = st.builds(
    pb.ItemError, code=st.integers(0, 16), message=text, field=st.sampled_from(["", "principal"])
)
results = st.one_of(
    st.builds(pb.BatchCheckResult, allowed=st.booleans()),
    st.builds(pb.BatchCheckResult, error=item_errors),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(results, max_size=50), st.integers(0, 2**62))
def test_the_response_is_the_generated_serialization(
    answers: list[pb.BatchCheckResult], revision: int
) -> None:
    expected = pb.BatchCheckResponse(results=answers, revision=revision).SerializeToString()
    assert response_bytes([result_entry(a) for a in answers], revision) == expected


def test_the_prepared_entries_are_the_results_they_stand_for() -> None:
    assert result_entry(pb.BatchCheckResult(allowed=True)) == ALLOWED
    assert result_entry(pb.BatchCheckResult(allowed=False)) == DENIED
    refused = pb.BatchCheckResponse.FromString(response_bytes([NOT_FOR_OTHERS], 0)).results[0]
    assert not refused.allowed
    assert refused.error == pb.ItemError(
        code=grpc.StatusCode.PERMISSION_DENIED.value[0],
        message=f"the caller lacks {CHECK_FOR_OTHERS}",
        field="principal",
    )

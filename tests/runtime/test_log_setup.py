"""The log formats: JSON lines (one switch) and text, both naming the call's request id and
trace id while a call is handled; a request id cannot forge a line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from libs.runtime.call_context import CURRENT_CALL
from libs.runtime.log_setup import CallIds, formatter
from tests.runtime.fake_context import FakeContext, context_of

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736


def lines(log_format: str, message: str, *args: object) -> list[str]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(CallIds())
    logger = logging.getLogger(f"test.log_setup.{log_format}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return out.getvalue().splitlines()


@pytest.fixture
def in_a_traced_call() -> Iterator[None]:
    context = FakeContext((("x-request-id", "req-42"), ("authorization", "Bearer aak_x_secret")))
    token = CURRENT_CALL.set(("/authz.v1.AccessService/Check", context_of(context)))
    span = NonRecordingSpan(SpanContext(TRACE_ID, 0x00F067AA0BA902B7, False, TraceFlags(1)))
    try:
        with trace.use_span(span):
            yield
    finally:
        CURRENT_CALL.reset(token)


def test_a_json_line_carries_the_request_and_trace_ids(in_a_traced_call: None) -> None:
    [line] = lines("json", "denied %s", "x")
    entry = json.loads(line)
    assert entry["message"] == "denied x"
    assert entry["level"] == "WARNING"
    assert entry["grpc_method"] == "/authz.v1.AccessService/Check"
    assert entry["request_id"] == "req-42"
    assert entry["trace_id"] == f"{TRACE_ID:032x}"
    assert "secret" not in line  # the call's other metadata stays out


def test_a_text_line_carries_them_too(in_a_traced_call: None) -> None:
    [line] = lines("text", "denied")
    assert line.endswith(f"denied [request_id=req-42 trace_id={TRACE_ID:032x}]")


def test_outside_a_call_the_ids_are_empty() -> None:
    entry = json.loads(lines("json", "started")[0])
    assert (entry["request_id"], entry["trace_id"], entry["grpc_method"]) == ("", "", "")
    assert lines("text", "started")[0].endswith("started")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        formatter("xml")


@given(st.text(max_size=300))
def test_a_request_id_is_one_bounded_printable_field(request_id: str) -> None:
    context = FakeContext((("x-request-id", request_id),))
    token = CURRENT_CALL.set(("/m/M", context_of(context)))
    try:
        out = lines("json", "x")
    finally:
        CURRENT_CALL.reset(token)
    assert len(out) == 1  # no newline of the caller's splits the line
    logged = json.loads(out[0])["request_id"]
    assert len(logged) <= 128
    assert all(c.isprintable() for c in logged)

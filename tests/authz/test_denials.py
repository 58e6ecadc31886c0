"""Coalescing of ACCESS_DENIED events (libs/events/coalescing.py, used by authz and the audit
API), on a clock of the test's own."""

from __future__ import annotations

from libs.events.coalescing import Coalescer


def test_one_event_per_key_and_window_and_the_next_one_counts_the_rest() -> None:
    c = Coalescer(window_s=60, per_caller=20)
    key = ("user:a/eve", "victim/o", "core_access_check")
    assert c.admit(*key, now=0) == 0
    assert [c.admit(*key, now=t) for t in range(1, 6)] == [None] * 5
    assert c.admit(*key, now=61) == 5  # the next event reports the five held back
    assert c.admit(*key, now=62) is None


def test_a_caller_gets_at_most_per_caller_events_per_window_whatever_the_scopes() -> None:
    c = Coalescer(window_s=60, per_caller=20)
    recorded = [
        c.admit("user:a/eve", f"victim/o{i}", "core_access_check", 1.0) for i in range(1000)
    ]
    assert sum(r is not None for r in recorded) == 20
    # Another caller is not silenced by eve.
    assert c.admit("user:a/bob", "victim", "core_access_check", 1.0) == 0


def test_memory_stays_bounded() -> None:
    c = Coalescer(window_s=60, per_caller=1_000_000, max_keys=100)
    for i in range(10_000):
        c.admit("user:a/eve", f"v/o{i}", "p", float(i))
    assert len(c._last) <= 101

"""Coalescing of ACCESS_DENIED events (domain/denials.py), on a fake clock."""

from __future__ import annotations

from services.authz.domain.denials import DenialKey, DenialLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_event_per_key_and_window_and_the_next_one_counts_the_rest() -> None:
    clock = Clock()
    limiter = DenialLimiter(clock, window_s=60, per_caller=20)
    key = DenialKey("user:a/eve", "victim", "core_access_check", "victim/o")
    assert limiter.admit(key) == 0
    assert [limiter.admit(key) for _ in range(5)] == [None] * 5
    clock.now = 61
    assert limiter.admit(key) == 5  # the next event reports the five held back
    assert limiter.admit(key) is None


def test_a_caller_gets_at_most_per_caller_events_per_window_whatever_the_keys() -> None:
    clock = Clock()
    limiter = DenialLimiter(clock, window_s=60, per_caller=20)
    recorded = [
        limiter.admit(DenialKey("user:a/eve", "victim", "core_access_check", f"victim/o{i}"))
        for i in range(1000)
    ]
    assert sum(r is not None for r in recorded) == 20
    # Another caller is not silenced by eve.
    assert limiter.admit(DenialKey("user:a/bob", "victim", "core_access_check", "victim")) == 0


def test_memory_stays_bounded() -> None:
    limiter = DenialLimiter(Clock(), per_caller=1, max_keys=100)
    for i in range(10_000):
        limiter.admit(DenialKey("user:a/eve", "v", "p", f"v/o{i}"))
    assert len(limiter._held) <= 100

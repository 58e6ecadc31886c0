"""Coalescing of ACCESS_DENIED events: a denial is audited, but one caller cannot flood a trail.

Within a window, the first denial of a (caller, account, permission, scope) is recorded, and a
caller gets at most `per_caller` denial events in all; the rest are counted, and the next event
recorded for the same key carries the count (label `coalesced`). Pure: the clock is passed in."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class DenialKey(NamedTuple):
    caller: str
    account: str
    permission: str
    scope: str


class DenialLimiter:
    def __init__(
        self,
        clock: Callable[[], float],
        window_s: float = 60.0,
        per_caller: int = 20,
        max_keys: int = 100_000,
    ) -> None:
        self.clock = clock
        self.window_s = window_s
        self.per_caller = per_caller
        self.max_keys = max_keys
        self._window_start = clock()
        self._recorded: set[DenialKey] = set()  # keys recorded in this window
        self._by_caller: dict[str, int] = {}  # events recorded per caller in this window
        self._held: dict[DenialKey, int] = {}  # denials not recorded yet, by key (any window)

    def admit(self, key: DenialKey) -> int | None:
        """None: count this denial and record no event. Else record one event, reporting the
        returned number of earlier denials of the same key that were held back."""
        now = self.clock()
        if now - self._window_start >= self.window_s:
            self._window_start = now
            self._recorded.clear()
            self._by_caller.clear()
        if key in self._recorded or self._by_caller.get(key.caller, 0) >= self.per_caller:
            if len(self._held) < self.max_keys or key in self._held:
                self._held[key] = self._held.get(key, 0) + 1
            return None
        self._recorded.add(key)
        self._by_caller[key.caller] = self._by_caller.get(key.caller, 0) + 1
        return self._held.pop(key, 0)

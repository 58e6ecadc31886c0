"""Which denials become audit events: at most one per caller, scope and permission per window,
and at most `per_caller` per caller per window, so that no caller can flood a trail. A written
event counts the denials folded into it since the previous one. No I/O; time is given."""

from __future__ import annotations

from dataclasses import dataclass, field

Key = tuple[str, str, str]  # caller, scope, permission


@dataclass
class Coalescer:
    window_s: float
    per_caller: int
    max_keys: int = 100_000  # memory bound: past it, entries older than the window go
    _last: dict[Key, tuple[float, int]] = field(default_factory=dict)  # written at, folded since
    _budget: dict[str, tuple[float, int]] = field(default_factory=dict)  # window start, written

    def admit(self, caller: str, scope: str, permission: str, now: float) -> int | None:
        """None: fold this denial into an earlier event. Otherwise write an event, which
        stands for this denial and the returned number of folded ones before it."""
        key = (caller, scope, permission)
        last = self._last.get(key)
        if last is not None and now - last[0] < self.window_s:
            self._last[key] = (last[0], last[1] + 1)
            return None
        start, written = self._budget.get(caller, (now, 0))
        if now - start >= self.window_s:
            start, written = now, 0
        if written >= self.per_caller:
            self._budget[caller] = (start, written)
            return None
        self._budget[caller] = (start, written + 1)
        self._last[key] = (now, 0)
        self._forget(now)
        return 0 if last is None else last[1]

    def _forget(self, now: float) -> None:
        if len(self._last) <= self.max_keys:
            return
        self._last = {k: v for k, v in self._last.items() if now - v[0] < self.window_s}
        self._budget = {c: v for c, v in self._budget.items() if now - v[0] < self.window_s}
        if len(self._last) > self.max_keys:  # all recent: start over rather than grow
            self._last.clear()

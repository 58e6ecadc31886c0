"""Whether the projector group is doing its job, from samples of its lag: pure logic.

Healthy while the group has nothing to do (lag 0) or its committed offsets advance; stalled when
events wait and nothing was committed for stall_after_s (a subscription that missed its
partitions, a store failing for good, a wedged agent). A sample whose lag could not be read
(broker away) is no progress either.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LagSample:
    at: float
    lag: int | None  # events on the topic not yet committed by the group; None: unknown
    committed: int  # the sum of the group's committed offsets
    assigned: tuple[int, ...] = ()  # partitions this worker owns


@dataclass
class Liveness:
    stall_after_s: float
    started_at: float
    last: LagSample | None = None
    _progress_at: float | None = field(default=None)

    def observe(self, sample: LagSample) -> None:
        progressed = sample.lag == 0 or (
            self.last is not None
            and sample.lag is not None
            and sample.committed > self.last.committed
        )
        if progressed or self._progress_at is None:
            self._progress_at = sample.at if progressed else self.started_at
        self.last = sample

    def report(self, now: float) -> tuple[bool, dict[str, object]]:
        since = self._progress_at if self._progress_at is not None else self.started_at
        idle_s = now - since
        healthy = idle_s <= self.stall_after_s
        last = self.last
        return healthy, {
            "status": "ok" if healthy else "stalled",
            "lag": None if last is None else last.lag,
            "committed": None if last is None else last.committed,
            "assigned_partitions": [] if last is None else list(last.assigned),
            "seconds_without_progress": round(idle_s, 1),
            "stall_after_s": self.stall_after_s,
        }

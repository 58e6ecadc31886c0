"""The chaos scenarios of `python -m bench chaos`, smaller: authz, its relay and a projector as
real processes on a broker and a PostgreSQL of the run's own, a client writing through authz.
(The projector killed, a rebalance and a broker restart under a worker have their own smaller
tests under tests/audit; this runs the faults that need the whole pipeline.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import run
from bench.chaos_env import StackUnavailable
from tests.harness.endpoints import unavailable

pytestmark = pytest.mark.integration


async def test_the_trail_is_whole_and_current_again_after_each_fault(tmp_path: Path) -> None:
    try:
        results = await run(
            [
                "--only", "topic-late,authz-kill,postgres-restart,broker-10s,poison",
                "--rate", "40", "--seconds", "1.5", "--outage-scale", "0.3", "--drain", "60",
                "--workdir", str(tmp_path),
            ]
        )  # fmt: skip
    except StackUnavailable as exc:
        unavailable("an own Kafka + PostgreSQL", str(exc))
    assert [r.scenario for r in results] == [
        "topic-late", "authz-kill", "postgres-restart", "broker-10s", "poison",
    ]  # fmt: skip
    for r in results:
        assert r.written > 50, r
        assert r.lost == 0, r
        assert r.duplicates == 0, r
        assert r.stored == r.written, r
        assert r.chains[0] == r.chains[1] == 3, r
        assert r.acked_missing == 0, r
        assert r.current_after_s is not None, r
    poison = results[-1]
    assert poison.dead_letters == 3  # undecodable, NUL in a field: topic; too large: outbox

"""Pure logic of the pipeline's resilience: which store failures are permanent, when the
projector group counts as stalled, how topics are declared."""

from __future__ import annotations

import pytest

from libs.events.topics import TopicSettings, spec_for
from services.audit.domain.failures import printable_reason, rejected_for_good
from services.audit.domain.liveness import LagSample, Liveness


@pytest.mark.parametrize(
    ("sqlstate", "permanent"),
    [
        ("22021", True),  # a NUL byte in text
        ("22P05", True),  # \u0000 in JSON
        ("23502", True),  # a NOT NULL column without a value
        ("54000", True),  # an index row too big
        ("40001", False),  # serialization failure
        ("40P01", False),  # deadlock
        ("08006", False),  # connection failure
        ("57P01", False),  # admin shutdown
        ("53300", False),  # too many connections
        ("42P01", False),  # a table missing (a migration not yet applied): wait, don't drop
        (None, False),
        ("", False),
    ],
)
def test_only_data_the_store_refuses_is_permanent(sqlstate: str | None, permanent: bool) -> None:
    assert rejected_for_good(sqlstate) is permanent


def test_a_reason_is_printable_and_bounded() -> None:
    assert printable_reason("a\x00b\nc") == "a?b?c"
    assert len(printable_reason("x" * 5000)) == 1000


def sample(at: float, lag: int | None, committed: int) -> LagSample:
    return LagSample(at, lag, committed, (0, 1))


def test_a_group_with_nothing_to_do_is_healthy_however_long() -> None:
    liveness = Liveness(stall_after_s=10, started_at=0)
    for t in range(0, 100, 5):
        liveness.observe(sample(t, 0, 500))
    healthy, report = liveness.report(100)
    assert healthy
    assert report["assigned_partitions"] == [0, 1]


def test_waiting_events_with_commits_advancing_are_healthy() -> None:
    liveness = Liveness(stall_after_s=10, started_at=0)
    for t in range(0, 100, 5):
        liveness.observe(sample(t, 1000, t * 10))
    assert liveness.report(100)[0]


def test_waiting_events_without_a_commit_stall_after_the_limit_and_recover() -> None:
    liveness = Liveness(stall_after_s=10, started_at=0)
    liveness.observe(sample(0, 0, 100))
    liveness.observe(sample(5, 50, 100))
    assert liveness.report(9)[0]
    liveness.observe(sample(12, 50, 100))
    healthy, report = liveness.report(12)
    assert not healthy
    assert report["status"] == "stalled"
    assert report["lag"] == 50
    liveness.observe(sample(14, 20, 130))
    assert liveness.report(14)[0]


def test_an_unknown_lag_is_no_progress() -> None:
    liveness = Liveness(stall_after_s=10, started_at=0)
    liveness.observe(sample(1, None, 0))
    assert liveness.report(5)[0]
    assert not liveness.report(11)[0]


def test_topics_are_declared_from_one_set_of_settings() -> None:
    settings = TopicSettings(partitions=12, max_message_bytes=2_000_000)
    events = spec_for("audit.events.v1", settings)
    dead = spec_for("audit.events.v1.dlq", settings)
    assert (events.partitions, dead.partitions) == (12, 1)
    assert events.config["max.message.bytes"] == "2000000"
    assert int(dead.config["retention.ms"]) > int(events.config["retention.ms"])

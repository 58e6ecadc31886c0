"""scripts/stack is idempotent and reports what runs."""

import os
import subprocess

import pytest

from tests.harness.endpoints import ROOT

pytestmark = pytest.mark.integration


def stack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts/stack"), *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(
    "KAFKA_BOOTSTRAP_SERVERS" in os.environ
    and "127.0.0.1:" not in os.environ["KAFKA_BOOTSTRAP_SERVERS"],
    reason="the tests use an external Kafka, not the local stack",
)
def test_up_twice_is_fine_and_status_says_running(kafka_bootstrap: str, postgres_url: str) -> None:
    for _ in range(2):
        result = stack("up")
        assert result.returncode == 0, result.stdout + result.stderr
    status = stack("status").stdout
    assert "kafka: running" in status
    assert "postgresql: running" in status


def test_unknown_command_is_refused() -> None:
    result = stack("sideways")
    assert result.returncode == 2
    assert "usage" in result.stderr

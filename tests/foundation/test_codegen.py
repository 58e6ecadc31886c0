"""The committed generated protobuf code matches proto/."""

import subprocess
import sys

from tests.harness.endpoints import ROOT


def test_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stale_generated_code_is_detected(tmp_path: object) -> None:
    # Touch one generated file and the check must notice, then restore it.
    target = ROOT / "libs/protogen/audit/v1/event_pb2.py"
    original = target.read_bytes()
    try:
        target.write_bytes(original + b"\n# edited by hand\n")
        result = subprocess.run(
            [sys.executable, "scripts/gen_protos.py", "--check"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 1
        assert "audit/v1/event_pb2.py" in result.stdout
    finally:
        target.write_bytes(original)

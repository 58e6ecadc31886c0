"""The committed generated protobuf code matches proto/."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.harness.endpoints import ROOT


def test_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stale_generated_code_is_detected(tmp_path: Path) -> None:
    """On a copy of the tree (the committed files are never touched): one generated file
    edited by hand, and the check must notice."""
    for part in ("scripts", "proto", "libs/protogen"):
        shutil.copytree(ROOT / part, tmp_path / part)
    target = tmp_path / "libs/protogen/audit/v1/event_pb2.py"
    target.write_bytes(target.read_bytes() + b"\n# edited by hand\n")
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "audit/v1/event_pb2.py" in result.stdout

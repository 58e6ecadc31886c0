"""The Docker image installs the project as a package (`pip install .`): every file the services
read at run time (migrations, the Casbin model, the console's templates and static files) must be
in it, or the image starts without them."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.harness.endpoints import ROOT


def test_the_built_wheel_holds_every_data_file_of_the_code(tmp_path: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "libs", "services"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    data = {f for f in tracked if not f.endswith(".py") and not f.startswith("libs/protogen/")}
    assert any(f.endswith(".sql") for f in data)  # the check looks at something
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    for name in ("libs", "services"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(tmp_path), str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    assert sorted(data - packaged) == []

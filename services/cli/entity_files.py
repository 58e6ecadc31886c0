"""`--file`: an entity as YAML or JSON (JSON is YAML too, so one parser reads both)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.cli.failures import usage


def read_entity(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise usage(f"--file: cannot read {path}: {error}") from None
    except yaml.YAMLError as error:
        raise usage(f"--file: {path} is not YAML or JSON: {error}") from None
    if not isinstance(data, dict):
        raise usage(f"--file: {path} must hold one entity (a mapping of its fields)")
    return data

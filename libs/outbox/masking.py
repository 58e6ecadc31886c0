"""Secrets never leave the process that holds them: values under secret-sounding keys are
replaced before an event is written anywhere."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET_KEY = re.compile(
    r"(secret|token|password|passwd|api_?key|private_?key|credential|authorization)", re.IGNORECASE
)


def mask_secrets(value: Any) -> Any:
    """A copy of a JSON-like value with every secret-named field masked, at any depth."""
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and SECRET_KEY.search(k) else mask_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value

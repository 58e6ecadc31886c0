"""Reading a process's HTTP health endpoint as a probe would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def health(port: int) -> tuple[int, dict[str, object]]:
    """(status, body); (0, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}

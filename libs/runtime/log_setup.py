"""Logging is configured here and nowhere else: once per process, at start-up."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | int) -> None:
    """Root logging at `level` to stderr. A second call changes nothing (basicConfig)."""
    logging.basicConfig(level=level, format=FORMAT)

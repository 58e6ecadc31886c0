"""Where a process's Prometheus metrics are served (GET /metrics, the text format).

A gRPC server serves them on a port of its own (`<PREFIX>_METRICS_PORT`) from a thread of
prometheus_client; the projector worker and the standalone relay add /metrics to their health
endpoint (libs.health_http). Several processes of one service (authz with AUTHZ_WORKERS=N) use
prometheus_client's multiprocess mode: the supervising parent makes a fresh directory, the
workers it starts write their samples there (memory-mapped files), and the parent serves the
sum of them all on the one port."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

log = logging.getLogger(__name__)

# Read by prometheus_client when a process imports it: set before the workers start.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def start_metrics_server(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> int:
    """Serve `registry` at http://host:port/metrics from a daemon thread; returns the bound port
    (port 0 picks a free one). A negative port serves nothing and returns -1."""
    if port < 0:
        return -1
    server, _ = start_http_server(port, host, registry)
    bound = int(server.server_port)
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return bound


@contextlib.contextmanager
def shared_metrics_dir() -> Iterator[CollectorRegistry]:
    """For a supervisor of worker processes: a fresh, empty directory for the workers' metrics
    (no stale samples of an earlier run), named in the environment the workers inherit, and a
    registry that reads them all. The directory is removed on exit."""
    path = tempfile.mkdtemp(prefix="authz-audit-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
        yield registry
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """Drop the live gauges of a worker that is gone (its counters keep counting in the sum)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path and Path(path).is_dir():
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]

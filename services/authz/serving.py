"""How `serve` runs: one replica in this process, or several worker processes.

Serving from several processes: each worker is a whole replica (its own policy index, kept
current through the policy log) listening on the same port with SO_REUSEPORT, and the kernel
spreads incoming connections across them. One Python process decides on one core; this is how
the service uses the others.

The parent only supervises: SIGTERM or SIGINT is passed on to every worker (each drains its
in-flight calls), and when one worker exits the others are stopped too, so that an orchestrator
sees the failure and restarts the whole service.

Metrics: a lone process serves its own on AUTHZ_METRICS_PORT; with workers, the parent serves
the sum of all of theirs there (prometheus_client's multiprocess mode, in a fresh directory the
parent makes and removes: libs.runtime.metrics_http)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing.connection import wait
from types import FrameType

from libs.runtime.log_setup import configure_logging
from libs.runtime.metrics_http import shared_metrics_dir, start_metrics_server, worker_exited
from libs.runtime.tracing import configure_tracing, shutdown_tracing
from services.authz.server import running_server
from services.authz.settings import AuthzSettings

log = logging.getLogger(__name__)


def serve_replica(number: int) -> None:
    """One replica; worker 0 also runs the outbox relay (one publisher is enough)."""
    settings = AuthzSettings()
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing("authz", settings.otlp_endpoint)
    if number:
        settings = settings.model_copy(update={"run_relay": False})
    parent = multiprocessing.parent_process()
    if parent is None:  # alone: its metrics are all there is (a worker's, the parent serves)
        start_metrics_server(settings.metrics_host, settings.metrics_port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if parent is not None:  # a worker: stop as well when the supervisor is gone
            loop.add_reader(parent.sentinel, stop.set)
        async with running_server(settings):
            await stop.wait()
            log.info("shutting down: finishing in-flight calls")

    try:
        asyncio.run(main())
    finally:
        shutdown_tracing()


def run_workers(
    count: int,
    serve: Callable[[int], None],
    metrics_host: str = "127.0.0.1",
    metrics_port: int = -1,
) -> int:
    """Run serve(0) .. serve(count - 1) in processes of their own until they stop, serving the
    metrics of them all on metrics_port; the exit code is the first non-zero one of the
    workers, else 0."""
    with shared_metrics_dir() as registry:
        start_metrics_server(metrics_host, metrics_port, registry)
        return _supervise(count, serve)


def _supervise(count: int, serve: Callable[[int], None]) -> int:
    context = multiprocessing.get_context("spawn")  # no state inherited from this process
    workers = [
        context.Process(target=serve, args=(n,), name=f"authz-worker-{n}") for n in range(count)
    ]
    for worker in workers:
        worker.start()
    log.info("serving from %d worker processes: %s", count, [w.pid for w in workers])

    stopping: set[int] = set()

    def stop(signum: int, _frame: FrameType | None) -> None:
        for n, worker in enumerate(workers):
            # Once each: a second SIGTERM could reach a worker after its loop has closed.
            if worker.is_alive() and n not in stopping:
                stopping.add(n)
                worker.terminate()  # SIGTERM: the worker drains, then exits

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    wait([w.sentinel for w in workers])  # the first worker to stop (or all, after a signal)
    stop(signal.SIGTERM, None)
    for worker in workers:
        worker.join()
        if worker.pid is not None:
            worker_exited(worker.pid)
    codes = [w.exitcode or 0 for w in workers]
    return next((code for code in codes if code != 0), 0)

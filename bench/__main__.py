"""python -m bench [name ...] [-- options]: run the named benchmarks (default: all of them).

Each benchmark is a module of this package with `async def main(argv: list[str]) -> None`; the
options after `--` go to every benchmark named (`python -m bench outbox -- --help`).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

BENCHMARKS = {
    "outbox": "outbox relay: throughput and RPC-to-topic latency beside a bare aiokafka producer",
    "audit": "audit projector: topic-to-table throughput beside a bare consumer and a plain"
    " asyncpg insert, and RPC-to-row latency",
    "audit_query": "audit query API at 10M events: first and tenth page through gRPC beside the"
    " bare SQL, per typical filter",
    "authz_perf": "authz decisions beside pycasbin Enforcer/FastEnforcer, load from PostgreSQL,"
    " gRPC Check/BatchCheck beside an echo server (ghz), freshness across replicas",
    "invitations": "InviteUser / AcceptInvitation / AddMember of an invited user beside"
    " CreateUser / CreateApiKey / AddMember of an active user, over gRPC",
    "console_page": "web console: time to first byte and to a rendered trail page of 50 events at"
    " 10M events in headless Chromium beside the bare ListEvents call (not in the default run:"
    " it fills a 10M store of its own)",
    "grpc_metrics": "the cost per call of the gRPC metrics (libs/runtime/metrics.py) beside a"
    " bare handler, in one process and in multiprocess mode",
    "governance": "CreateRoleBinding write latency without policy sets, with one and with five"
    " (evaluated by the stack's OPA), side by side in one run",
    "chaos": "audit pipeline under faults (projector/broker/PostgreSQL/authz down, rebalance,"
    " poison): lost, duplicated, chains, seconds until the trail is current (not in the default"
    " run: it brings its own broker and database and takes minutes)",
}
DEFAULT = [name for name in BENCHMARKS if name not in ("chaos", "console_page")]


def run(argv: list[str]) -> None:
    names_argv, options = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks: "
        + "; ".join(f"{name}: {what}" for name, what in BENCHMARKS.items()),
        epilog="Options after `--` go to the benchmarks, e.g. `python -m bench outbox -- --help`.",
    )
    parser.add_argument("names", nargs="*", metavar="name", help=", ".join(BENCHMARKS))
    names = parser.parse_args(names_argv).names or DEFAULT
    if unknown := [name for name in names if name not in BENCHMARKS]:
        parser.error(
            f"no benchmark named {', '.join(unknown)} (there are: {', '.join(BENCHMARKS)})"
        )
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        asyncio.run(module.main(options))


if __name__ == "__main__":
    run(sys.argv[1:])

"""The cost of measuring a gRPC call (libs/runtime/metrics.py), beside the bare handler.

A handler that answers at once is called in a loop, bare and wrapped as serve_grpc wraps every
registered method (counter by method and code, latency histogram, the call in a context
variable), in one process and in prometheus_client's multiprocess mode (AUTHZ_WORKERS > 1,
samples in memory-mapped files). The difference per call is what metrics add to every RPC;
compare it with what a unary Check costs the server (~440 µs of CPU, README "authz performance").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import grpc

CALLS = 200_000


class Context:
    """What the wrapper asks of a servicer context."""

    def code(self) -> None:
        return None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


async def answer(request: Any, context: Any) -> Any:
    return request


async def per_call_ns(behavior: Any, calls: int) -> float:
    context, request = Context(), object()
    for _ in range(1000):  # warm up
        await behavior(request, context)
    best = float("inf")
    for _ in range(5):  # the best of five: the least disturbed by the other tenants
        started = time.perf_counter_ns()
        for _ in range(calls):
            await behavior(request, context)
        best = min(best, (time.perf_counter_ns() - started) / calls)
    return best


async def measure(calls: int) -> tuple[float, float]:
    from libs.runtime.metrics import instrument_handler

    handler = grpc.unary_unary_rpc_method_handler(answer)
    wrapped = instrument_handler("/authz.v1.AccessService/Check", handler).unary_unary
    return await per_call_ns(answer, calls), await per_call_ns(wrapped, calls)


def child(calls: int) -> None:
    bare, wrapped = asyncio.run(measure(calls))
    print(f"{bare} {wrapped}")


def run_mode(multiprocess: bool, calls: int) -> tuple[float, float]:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as directory:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = directory
        out = subprocess.run(
            [sys.executable, "-m", "bench.grpc_metrics", "--child", "--calls", str(calls)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
    bare, wrapped = (float(x) for x in out.stdout.split())
    return bare, wrapped


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench grpc_metrics")
    parser.add_argument("--calls", type=int, default=CALLS)
    args = parser.parse_args(argv)
    print(f"gRPC metrics: a bare handler vs the measured one, best of 5 x {args.calls:,} calls")
    print(f"{'mode':<34}{'bare ns/call':>14}{'measured ns/call':>18}{'added ns':>10}")
    for name, multiprocess in (("one process", False), ("multiprocess (AUTHZ_WORKERS>1)", True)):
        bare, wrapped = await asyncio.to_thread(run_mode, multiprocess, args.calls)
        print(f"{name:<34}{bare:>14,.0f}{wrapped:>18,.0f}{wrapped - bare:>10,.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--calls", type=int, default=CALLS)
    options = parser.parse_args()
    if options.child:
        child(options.calls)
    else:
        asyncio.run(main(sys.argv[1:]))

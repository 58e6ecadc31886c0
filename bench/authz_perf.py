"""Authz decisions at 10k, 100k and 1M policy lines, beside pycasbin and an echo gRPC server.

One run, for every size of `--sizes`, with a Harness-shaped policy set (bench/policy_gen.py,
deterministic for `--seed`):

1. In-process decisions: pycasbin's plain `Enforcer`, pycasbin's `FastEnforcer` and this
   service's `PolicyIndex`, each in a subprocess of its own that regenerates the same lines and
   requests, builds the engine and measures single checks: cold (`--requests` distinct requests,
   nothing repeated) and warm (the first `--hot` requests, repeated). pycasbin has no decision
   cache (2.8.0), so its warm rows only repeat requests. pycasbin is given `--pycasbin-budget-s`
   for building and measuring at a size; a subprocess silent past it is killed and reported "not
   finished in N s". Each engine's decisions are compared with the others' on the same requests.
2. Load: the lines COPYed into a fresh database's casbin_rule (with the entity each comes from as
   source), then, each in a fresh subprocess: a bare asyncpg fetch of the rows (the floor), the
   service's `PolicyState().load` and pycasbin's AsyncEnforcer over the service's adapter; time
   and peak RSS (VmHWM) of each.
3. gRPC (at `--grpc-sizes`): `python -m services.authz serve` and `python -m bench.echo_server`
   (the same AccessService messages answered without any work: the transport ceiling) in
   subprocesses, loaded identically by ghz (`.stack/bin/ghz`, else a grpc.aio client loop):
   unary Check at each `--concurrency`, BatchCheck at each `--batch-sizes`. Requests are about
   principals of the account whose bootstrapped administrator calls (it holds core_access_check
   there), and about that administrator itself.
4. Freshness (same sizes): a second replica on the same database; after each CreateRoleBinding
   returns from replica A, how long until Check reflects it on A and on B (polled, and with
   at_least_revision on B).

Nothing is asserted (DESIGN.md section 8). `python -m bench.authz_perf --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import casbin
import grpc
from casbin.model import FastModel
from casbin.model.policy_fast import FastPolicy
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from bench import policy_gen
from bench.authz_client import ADMIN
from bench.endpoints import ROOT, endpoints, fresh_database
from bench.report import Latency, latency_table, ratio
from libs.runtime.bearer_token import BearerToken
from services.authz.audit_events import OutboxEvents
from services.authz.bootstrap import bootstrap_admin
from services.authz.casbin_model.enforcer import (
    MODEL_PATH,
    casbin_request,
    plain_enforcer,
    register_functions,
)
from services.authz.domain import catalog
from services.authz.domain.lines import CheckRequest, PolicyLine, user_subject
from services.authz.domain.policy_index import PolicyIndex
from services.authz.grpc_api.batch_check_wire import varint
from services.authz.guard import Guard
from services.authz.management import Management
from services.authz.policy_state import PolicyState, long_lived_allocations
from services.authz.store.casbin_adapter import VALUE_COLUMNS, CasbinRuleAdapter, fetch_lines
from services.authz.store.connections import Connections
from services.authz.store.schema import migrate_authz

GHZ = ROOT / ".stack" / "bin" / "ghz"
PROTO = ROOT / "proto" / "authz" / "v1" / "authz.proto"
ADMIN_ACCOUNT = "acct0000"  # the first generated account; its administrator calls the gRPC API
ENGINES = {
    "casbin": "pycasbin Enforcer",
    "fast": "pycasbin FastEnforcer",
    "ours": "ours (PolicyIndex)",
}
LATENCY_SAMPLES = 20_000  # timed calls per phase for the fast engine (throughput is untimed)
COLD_SHARE = 0.75  # of a pycasbin budget, what may go to building and cold checks
# ghz spreads its concurrency over up to this many connections (one connection reaches only one
# of several authz worker processes).
CONNECTIONS = 4
DATABASE_ENV = "BENCH_AUTHZ_DATABASE_URL"  # how a load subprocess gets its database


# ---------------------------------------------------------------- small helpers


def _emit(**event: Any) -> None:
    """A child's report to the parent: one JSON line on stdout."""
    print(json.dumps(event), flush=True)


def _status_kb(field_name: str) -> int:
    """A field of /proc/self/status in kB (VmHWM: peak resident set; VmRSS: current)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def _mb(kb: float | None) -> str:
    return "-" if kb is None else f"{kb / 1024:,.0f}"


def _quantiles_us(samples_ns: list[int]) -> tuple[float, float]:
    latency = Latency("", [s / 1e9 for s in samples_ns], len(samples_ns))
    return latency.quantile(50) * 1e6, latency.quantile(99) * 1e6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _size_label(lines: int) -> str:
    return f"{lines:,}"


# ---------------------------------------------------------------- engines (child side)


class _FastModel(FastModel):  # type: ignore[misc]
    """pycasbin 2.8.0's FastModel.add_def drops its parent's return value, so Model's section
    loader stops after the first assertion of each section: `g2` is never defined and loading
    our policy raises KeyError('g2'). This returns it; nothing else differs."""

    def add_def(self, sec: str, key: str, value: Any) -> Any:
        added = super(FastModel, self).add_def(sec, key, value)
        if sec == "p" and key == "p":
            self.model[sec][key].policy = FastPolicy(self._cache_key_order)
        return added


class _FastEnforcer(casbin.FastEnforcer):  # type: ignore[misc]
    def new_model(self, path: str = "", text: str = "") -> Any:
        if self._cache_key_order is None:
            return super().new_model(path, text)
        model = _FastModel(self._cache_key_order)
        if path:
            model.load_model(path)
        else:
            model.load_model_from_text(text)
        return model


class _Lines(casbin.persist.Adapter):  # type: ignore[misc]
    """Loads fixed lines into a model (as services.authz.casbin_model.enforcer does)."""

    def __init__(self, lines: Iterable[PolicyLine]) -> None:
        self._lines = list(dict.fromkeys(lines))

    def load_policy(self, model: Any) -> None:
        for ptype, values in self._lines:
            model.model[ptype[0]][ptype].policy.append(list(values))


def fast_enforcer(lines: Iterable[PolicyLine]) -> Any:
    """FastEnforcer filtering p lines by the request's value 0 (`cache_key_order=[0]`, the only
    position where our request and policy agree: the subject) before the matcher runs; with our
    scopeCovers function. It then never sees the p lines of the subject's groups."""
    enforcer = _FastEnforcer(str(MODEL_PATH), _Lines(lines), cache_key_order=[0])
    register_functions(enforcer)
    return enforcer


def _build(engine: str, lines: list[PolicyLine]) -> Callable[[CheckRequest], bool]:
    if engine == "ours":
        with long_lived_allocations():  # as PolicyState.load builds it
            return PolicyIndex(lines).check
    enforcer = plain_enforcer(lines) if engine == "casbin" else fast_enforcer(lines)

    def check(req: CheckRequest) -> bool:
        return bool(enforcer.enforce(*casbin_request(req)))

    return check


def _untimed(
    check: Callable[[CheckRequest], bool],
    reqs: Sequence[CheckRequest],
    rounds: int,
    deadline: float,
) -> tuple[int, float]:
    """Checks without a timer per call; stops at the deadline (between chunks)."""
    n, start = 0, time.perf_counter()
    for _ in range(rounds):
        for i in range(0, len(reqs), 4096):
            chunk = reqs[i : i + 4096]
            for req in chunk:
                check(req)
            n += len(chunk)
            if time.perf_counter() > deadline:
                return n, time.perf_counter() - start
    return n, time.perf_counter() - start


def _timed(
    check: Callable[[CheckRequest], bool], reqs: Iterable[CheckRequest], limit: int, deadline: float
) -> tuple[list[int], list[bool]]:
    """Checks timed one by one (perf_counter_ns); at most `limit`, until the deadline."""
    clock = time.perf_counter_ns
    stop = int(deadline * 1e9)
    samples: list[int] = []
    decisions: list[bool] = []
    for req in reqs:
        t0 = clock()
        decisions.append(check(req))
        t1 = clock()
        samples.append(t1 - t0)
        if len(samples) >= limit or t1 > stop:
            break
    return samples, decisions


def _phase(n: int, seconds: float, samples: list[int], complete: bool) -> dict[str, Any]:
    p50, p99 = _quantiles_us(samples) if samples else (float("nan"), float("nan"))
    return {"n": n, "seconds": seconds, "p50_us": p50, "p99_us": p99, "complete": complete}


def _cycle(reqs: Sequence[CheckRequest]) -> Iterable[CheckRequest]:
    while True:
        yield from reqs


def engine_child(
    engine: str, size: int, seed: int, n_requests: int, hot: int, budget_s: float
) -> None:
    policy = policy_gen.generate(size, seed)
    reqs = policy_gen.requests(policy, n_requests, seed + 1)
    lines = policy.lines
    del policy
    _emit(event="generated", lines=len(lines), requests=len(reqs))
    start = time.perf_counter()
    deadline = start + budget_s
    check = _build(engine, lines)
    build_s = time.perf_counter() - start
    _emit(event="built", build_s=build_s, hwm_kb=_status_kb("VmHWM"))
    hot_reqs = reqs[: min(hot, len(reqs))]
    if engine == "ours":
        samples, _ = _timed(check, reqs, LATENCY_SAMPLES, deadline)
        index: PolicyIndex = getattr(check, "__self__")  # noqa: B009  (a bound method)
        index.forget_decisions()  # the untimed pass is cold as well
        n, seconds = _untimed(check, reqs, 1, deadline)
        cold = _phase(n, seconds, samples, n == len(reqs))
        decisions = [check(req) for req in reqs]
        rounds = max(1, len(reqs) // max(1, len(hot_reqs)))
        n, seconds = _untimed(check, hot_reqs, rounds, deadline)
        samples, _ = _timed(check, _cycle(hot_reqs), LATENCY_SAMPLES, deadline)
        warm = _phase(n, seconds, samples, n == rounds * len(hot_reqs))
    else:
        cold_deadline = start + budget_s * COLD_SHARE
        t0 = time.perf_counter()
        samples, decisions = _timed(check, reqs, len(reqs), cold_deadline)
        cold = _phase(len(samples), time.perf_counter() - t0, samples, len(samples) == len(reqs))
        hot_reqs = reqs[: min(len(hot_reqs), max(1, len(samples)))]
        t0 = time.perf_counter()
        samples, _ = _timed(check, _cycle(hot_reqs), len(reqs), deadline)
        warm = _phase(len(samples), time.perf_counter() - t0, samples, len(samples) == len(reqs))
    _emit(
        event="result",
        build_s=build_s,
        cold=cold,
        warm=warm,
        hot=len(hot_reqs),
        decisions="".join("1" if d else "0" for d in decisions),
        hwm_kb=_status_kb("VmHWM"),
    )


# ---------------------------------------------------------------- load (child side)


async def load_child(what: str) -> None:
    """Time one way of loading casbin_rule in this fresh process, and its peak RSS."""
    conn = await asyncpg.connect(os.environ[DATABASE_ENV])
    pool = await asyncpg.create_pool(os.environ[DATABASE_ENV], min_size=1, max_size=1)
    try:
        start_kb = _status_kb("VmHWM")
        start = time.perf_counter()
        if what == "rows":
            columns = ", ".join(("ptype", *VALUE_COLUMNS))
            held: Any = await conn.fetch(f"SELECT {columns} FROM casbin_rule ORDER BY id")
            count = len(held)
        elif what == "lines":
            held = await fetch_lines(conn)
            count = len(held)
        elif what == "state":
            held = PolicyState()
            await held.load(conn)
            count = len(held.index)
        else:
            held = casbin.AsyncEnforcer(str(MODEL_PATH), CasbinRuleAdapter(pool))
            await held.load_policy()
            count = sum(len(a.policy) for sec in ("p", "g") for a in held.model.model[sec].values())
        seconds = time.perf_counter() - start
        _emit(seconds=seconds, lines=count, start_kb=start_kb, hwm_kb=_status_kb("VmHWM"))
    finally:
        await pool.close()
        await conn.close()


# ---------------------------------------------------------------- subprocesses (parent side)


@dataclass
class ChildResult:
    events: list[dict[str, Any]]
    finished: bool
    seconds: float  # from the child's "generated" (or its start) to its last word
    stderr_tail: str = ""


async def run_child(
    argv: list[str], budget_s: float, start_timeout_s: float, env: dict[str, str] | None = None
) -> ChildResult:
    """`python -m bench.authz_perf --child ...`: its JSON lines until it exits. The budget runs
    from its "generated" event (or from its start if it has no such event); past it (and a grace
    of 10 s) the child is killed. It gets start_timeout_s to generate."""
    command = [sys.executable, "-m", "bench.authz_perf", *argv]
    with tempfile.TemporaryFile() as log:
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=log, cwd=ROOT, env=env, limit=1 << 24
        )
        try:
            events, finished, budget_from = await _read_events(proc, budget_s, start_timeout_s)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        log.seek(0)
        tail = log.read()[-2000:].decode(errors="replace")
    return ChildResult(events, finished, time.perf_counter() - budget_from, tail)


async def _read_events(
    proc: asyncio.subprocess.Process, budget_s: float, start_timeout_s: float
) -> tuple[list[dict[str, Any]], bool, float]:
    """(events, exited with 0, when the budget started) once it exits or its time is up."""
    assert proc.stdout is not None
    events: list[dict[str, Any]] = []
    budget_from = time.perf_counter()
    deadline = budget_from + start_timeout_s
    while (remaining := deadline - time.perf_counter()) > 0:
        try:
            raw = await asyncio.wait_for(proc.stdout.readline(), remaining)
        except TimeoutError:
            break
        if not raw:
            return events, await proc.wait() == 0, budget_from
        events.append(json.loads(raw))
        if events[-1].get("event") == "generated":
            budget_from = time.perf_counter()
            deadline = budget_from + budget_s + 10.0
    return events, False, budget_from


class Processes:
    """Server subprocesses of the run, each ended at the end (SIGTERM, then SIGKILL)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[asyncio.subprocess.Process] = []

    async def start(
        self, name: str, argv: list[str], env: dict[str, str]
    ) -> asyncio.subprocess.Process:
        out = (self.logs / f"{name}.log").open("wb")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=ROOT, env=env
            )
        finally:
            out.close()
        self.started.append(proc)
        return proc

    async def stop(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if proc in self.started:
            self.started.remove(proc)

    async def stop_all(self) -> None:
        for proc in list(self.started):
            await self.stop(proc)


async def wait_until_serving(
    port: int, proc: asyncio.subprocess.Process, timeout_s: float, health: bool
) -> float:
    """Seconds until the server answers (health SERVING; the echo server: a Check)."""
    start = time.perf_counter()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"the server on port {port} exited with {proc.returncode}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                if health:
                    reply = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1.0
                    )
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return time.perf_counter() - start
                else:
                    await pb_grpc.AccessServiceStub(channel).Check(pb.CheckRequest(), timeout=1.0)
                    return time.perf_counter() - start
            if time.perf_counter() - start > timeout_s:
                raise TimeoutError(f"the server on port {port} did not serve in {timeout_s} s")
            await asyncio.sleep(0.1)


# ---------------------------------------------------------------- results and tables


@dataclass
class EngineRun:
    engine: str
    lines: int
    result: ChildResult
    budget_s: float | None

    def last(self, event: str) -> dict[str, Any] | None:
        found = [e for e in self.result.events if e.get("event") == event]
        return found[-1] if found else None

    @property
    def decisions(self) -> str:
        result = self.last("result")
        return str(result["decisions"]) if result else ""


def agreement(a: str, b: str) -> str:
    n = min(len(a), len(b))
    if n == 0:
        return "-"
    same = sum(1 for x, y in zip(a[:n], b[:n], strict=True) if x == y)
    return f"{same:,}/{n:,}"


def _rate(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.0f}"


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def _rates(engines: dict[str, EngineRun]) -> dict[tuple[str, str], float]:
    """(engine, mode) -> decisions/s."""
    rate = {}
    for run in engines.values():
        result = run.last("result")
        if result is None:
            continue
        for mode in ("cold", "warm"):
            phase = result[mode]
            rate[run.engine, mode] = phase["n"] / phase["seconds"] if phase["seconds"] else 0.0
    return rate


def engines_table(runs: list[EngineRun]) -> Table:
    table = Table(title="In-process Check: single decisions", title_justify="left")
    for column in (
        "lines", "engine", "build s", "mode", "checks", "seconds", "decisions/s", "p50 µs",
        "p99 µs", "vs Enforcer", "vs FastEnforcer", "agrees w/ Enforcer", "agrees w/ ours",
        "peak RSS MB",
    ):  # fmt: skip
        table.add_column(
            column, justify="left" if column in ("engine", "mode") else "right", no_wrap=True
        )
    by_size: dict[int, dict[str, EngineRun]] = {}
    for run in runs:
        by_size.setdefault(run.lines, {})[run.engine] = run
    for lines, engines in by_size.items():
        rate = _rates(engines)
        reference, ours = engines.get("casbin"), engines.get("ours")
        for key, run in engines.items():
            result, built = run.last("result"), run.last("built")
            if result is None:
                budget = run.budget_s
                what = f"not finished in {budget:.0f} s" if budget is not None else "failed"
                build = f"{built['build_s']:.2f}" if built else f"> {budget or 0:.0f}"
                peak = built["hwm_kb"] if built else None
                table.add_row(f"{lines:,}", ENGINES[key], build, "-", what, *["-"] * 8, _mb(peak))
                continue
            agrees_enforcer = "-"
            if reference is not None and key != "casbin":
                agrees_enforcer = agreement(run.decisions, reference.decisions)
            agrees_ours = (
                agreement(run.decisions, ours.decisions) if ours and key != "ours" else "-"
            )
            for mode in ("cold", "warm"):
                phase = result[mode]
                checks = f"{phase['n']:,}"
                if mode == "warm":
                    checks += f" (hot {result['hot']:,})"
                if not phase["complete"]:
                    checks += " (budget)"
                first = mode == "cold"
                table.add_row(
                    f"{lines:,}" if first else "",
                    ENGINES[key] if first else "",
                    f"{result['build_s']:.2f}" if first else "",
                    mode,
                    checks,
                    f"{phase['seconds']:.2f}",
                    _rate(rate[key, mode]),
                    _us(phase["p50_us"]),
                    _us(phase["p99_us"]),
                    ratio(rate[key, mode], rate.get(("casbin", mode), 0.0)),
                    ratio(rate[key, mode], rate.get(("fast", mode), 0.0)),
                    agrees_enforcer if first else "",
                    agrees_ours if first else "",
                    _mb(result["hwm_kb"]) if first else "",
                )
    return table


@dataclass
class LoadRun:
    lines: int
    what: str
    result: ChildResult
    budget_s: float


LOADS = {
    "rows": "asyncpg fetch of casbin_rule (rows only)",
    "lines": "fetch_lines (rows -> PolicyLines)",
    "state": "ours (PolicyState().load)",
    "casbin": "pycasbin AsyncEnforcer.load_policy (CasbinRuleAdapter)",
}


def load_table(runs: list[LoadRun], copies: dict[int, tuple[int, float]]) -> Table:
    table = Table(title="Load from PostgreSQL into a fresh process", title_justify="left")
    for column in (
        "lines",
        "what",
        "seconds",
        "lines/s",
        "peak RSS MB",
        "RSS growth MB",
        "vs bare fetch",
    ):
        table.add_column(column, justify="left" if column == "what" else "right")
    floor: dict[int, float] = {}
    for run in runs:
        if run.what == "rows" and run.result.events:
            floor[run.lines] = run.result.events[-1]["seconds"]
    shown: set[int] = set()
    for run in runs:
        label = _size_label(run.lines) if run.lines not in shown else ""
        if run.lines not in shown and run.lines in copies:
            stored, seconds = copies[run.lines]
            table.add_row(
                label,
                f"COPY {stored:,} lines into casbin_rule",
                f"{seconds:.2f}",
                f"{stored / seconds:,.0f}",
                "-",
                "-",
                "-",
            )
            label = ""
        shown.add(run.lines)
        if not run.result.events:
            why = f"not finished in {run.budget_s:.0f} s" if not run.result.finished else "failed"
            table.add_row(label, LOADS[run.what], why, *["-"] * 4)
            continue
        e = run.result.events[-1]
        table.add_row(
            label,
            LOADS[run.what],
            f"{e['seconds']:.2f}",
            f"{e['lines'] / e['seconds']:,.0f}" if e["seconds"] else "-",
            _mb(e["hwm_kb"]),
            _mb(e["hwm_kb"] - e["start_kb"]),
            "baseline" if run.what == "rows" else ratio(e["seconds"], floor.get(run.lines, 0)),
        )
    return table


@dataclass
class Rpc:
    count: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_sample: str = ""

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RpcPair:
    lines: int
    call: str
    concurrency: int
    batch: int
    echo: Rpc | None
    authz: Rpc | None
    workers: int = 1  # authz processes sharing the port


def rpc_table(title: str, pairs: list[RpcPair], unit: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in (
        "lines",
        "call",
        "concurrency",
        "authz processes",
        f"echo {unit}",
        "echo p50 ms",
        "echo p99 ms",
        f"authz {unit}",
        "authz p50 ms",
        "authz p99 ms",
        "vs echo",
        "errors echo/authz",
    ):
        table.add_column(column, justify="left" if column == "call" else "right")
    previous = None
    for pair in pairs:
        e, a = pair.echo, pair.authz
        per = max(pair.batch, 1)
        e_rate = e.per_second * per if e else 0.0
        a_rate = a.per_second * per if a else 0.0
        table.add_row(
            _size_label(pair.lines) if pair.lines != previous else "",
            pair.call,
            str(pair.concurrency),
            str(pair.workers),
            f"{e_rate:,.0f}" if e else "-",
            f"{e.p50_ms:.2f}" if e else "-",
            f"{e.p99_ms:.2f}" if e else "-",
            f"{a_rate:,.0f}" if a else "-",
            f"{a.p50_ms:.2f}" if a else "-",
            f"{a.p99_ms:.2f}" if a else "-",
            ratio(a_rate, e_rate),
            f"{(e.errors if e else 0)}/{(a.errors if a else 0)}",
        )
        previous = pair.lines
    return table


# ---------------------------------------------------------------- gRPC load generators


def _write_delimited(path: Path, messages: Iterable[Any]) -> None:
    """Length-prefixed serialized messages: ghz's --binary-file input (it cycles through them)."""
    with path.open("wb") as out:
        for message in messages:
            data = message.SerializeToString()
            out.write(varint(len(data)) + data)


async def ghz_run(
    target: str,
    method: str,
    data: Path,
    metadata: Path | None,
    concurrency: int,
    duration_s: float,
) -> Rpc:
    argv = [
        str(GHZ),
        "--insecure",
        "--proto",
        str(PROTO),
        "-i",
        str(ROOT / "proto"),
        "--call",
        f"authz.v1.AccessService/{method}",
        "-B",
        str(data),
        "-c",
        str(concurrency),
        "-z",
        f"{duration_s}s",
        "--duration-stop",
        "ignore",
        "--connections",
        str(min(concurrency, CONNECTIONS)),
        "--format",
        "json",
    ]
    if metadata is not None:
        argv += ["-M", str(metadata)]
    proc = await asyncio.create_subprocess_exec(
        *argv, target, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), duration_s + 60)
        if not out:
            raise ValueError(f"ghz: {err.decode(errors='replace')[-500:]}")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    report = json.loads(out)
    codes: dict[str, int] = report.get("statusCodeDistribution") or {}
    ok = codes.get("OK", 0)
    errors = sum(codes.values()) - ok
    percent = {d["percentage"]: d["latency"] for d in report.get("latencyDistribution") or []}
    return Rpc(
        ok,
        report["total"] / 1e9,
        percent.get(50, float("nan")) / 1e6,
        percent.get(99, float("nan")) / 1e6,
        errors,
        next(iter(report.get("errorDistribution") or {}), ""),
    )


async def python_run(
    target: str,
    method: str,
    messages: Sequence[Any],
    token: str | None,
    concurrency: int,
    duration_s: float,
) -> Rpc:
    """A grpc.aio client loop: `concurrency` workers calling back to back for duration_s."""
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    samples: list[float] = []
    errors: list[str] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.AccessServiceStub(channel)
        call = getattr(stub, method)
        start = time.perf_counter()
        stop = start + duration_s

        async def worker(k: int) -> None:
            i = k
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    await call(messages[i % len(messages)], metadata=metadata, timeout=20)
                    samples.append(time.perf_counter() - t0)
                except grpc.aio.AioRpcError as exc:
                    errors.append(f"{exc.code().name}: {exc.details()}")
                i += concurrency

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        seconds = time.perf_counter() - start
    latency = Latency("", samples, len(samples))
    return Rpc(
        len(samples),
        seconds,
        latency.quantile(50) * 1000,
        latency.quantile(99) * 1000,
        len(errors),
        errors[0] if errors else "",
    )


def to_pb(req: CheckRequest) -> pb.CheckRequest:
    kind, _, rest = req.subject.partition(":")
    scope, _, identifier = rest.rpartition("/")
    if kind == "user":
        principal = pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier=identifier)
    elif kind == "group":
        principal = pb.Principal(
            type=pb.PRINCIPAL_TYPE_USER_GROUP, identifier=identifier, scope=scope
        )
    else:
        principal = pb.Principal(
            type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier=identifier, scope=scope
        )
    return pb.CheckRequest(
        principal=principal,
        resource_scope=req.scope,
        resource_type=req.resource_type,
        resource_identifier=req.resource_id,
        permission=req.permission,
    )


# ---------------------------------------------------------------- the run


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.authz_perf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    csv = "comma-separated"
    parser.add_argument("--sizes", default="10000,100000,1000000", help=f"policy lines, {csv}")
    parser.add_argument("--seed", type=int, default=1, help="of the policy set and requests")
    parser.add_argument("--requests", type=int, default=100_000, help="distinct cold requests")
    parser.add_argument("--hot", type=int, default=1_000, help="warm: requests repeated")
    parser.add_argument(
        "--pycasbin-budget-s",
        type=float,
        default=60.0,
        help="per pycasbin engine and size: building and measuring",
    )
    parser.add_argument(
        "--engines", default="casbin,fast,ours", help=f"{csv}: {', '.join(ENGINES)}"
    )
    parser.add_argument("--phases", default="engines,load,grpc,freshness", help=csv)
    parser.add_argument("--grpc-sizes", default="", help=f"{csv} (default: the largest size)")
    parser.add_argument("--duration-s", type=float, default=10.0, help="per gRPC load run")
    parser.add_argument("--concurrency", default="1,16,64", help=f"unary Check, {csv}")
    parser.add_argument("--batch-sizes", default="100,1000", help=f"BatchCheck items, {csv}")
    parser.add_argument("--batch-concurrency", type=int, default=4, help="BatchCheck calls")
    parser.add_argument(
        "--workers", default="1,2", help=f"authz processes (AUTHZ_WORKERS) per gRPC run, {csv}"
    )
    parser.add_argument("--freshness-samples", type=int, default=50, help="writes")
    parser.add_argument("--load-generator", choices=("auto", "ghz", "python"), default="auto")
    parser.add_argument(
        "--phase-timeout",
        type=float,
        default=300.0,
        help="seconds: generating in a subprocess, a server's start, a load",
    )
    parser.add_argument("--child", choices=("engine", "load"), help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=tuple(ENGINES), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--what", choices=tuple(LOADS), help=argparse.SUPPRESS)
    parser.add_argument("--budget-s", type=float, default=60.0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


async def engine_runs(args: argparse.Namespace, size: int) -> list[EngineRun]:
    runs = []
    for engine in [e for e in args.engines.split(",") if e]:
        budget = args.pycasbin_budget_s if engine != "ours" else args.phase_timeout
        result = await run_child(
            [
                "--child",
                "engine",
                "--engine",
                engine,
                "--size",
                str(size),
                "--seed",
                str(args.seed),
                "--requests",
                str(args.requests),
                "--hot",
                str(args.hot),
                "--budget-s",
                str(budget),
            ],
            budget,
            args.phase_timeout,
        )
        generated = next((e for e in result.events if e.get("event") == "generated"), None)
        lines = generated["lines"] if generated else size
        if not result.events:
            print(f"  {engine}: no report; stderr: {result.stderr_tail}", file=sys.stderr)
        runs.append(EngineRun(engine, lines, result, budget if engine != "ours" else None))
        print(f"  {ENGINES[engine]} at {lines:,} lines: {result.seconds:.1f} s", file=sys.stderr)
    return runs


async def copy_lines(pool: asyncpg.Pool, policy: policy_gen.PolicySet) -> tuple[int, float]:
    """COPY the lines not stored yet (the bootstrap stored the managed roles'), with sources."""
    async with pool.acquire() as conn:
        stored = set(await fetch_lines(conn))
        pad = len(VALUE_COLUMNS)
        records = [
            (line.ptype, *line.values, *[""] * (pad - len(line.values)), source)
            for line, source in zip(policy.lines, policy.sources, strict=True)
            if line not in stored
        ]
        start = time.perf_counter()
        await conn.copy_records_to_table(
            "casbin_rule", records=records, columns=["ptype", *VALUE_COLUMNS, "source"]
        )
        seconds = time.perf_counter() - start
        await conn.execute("ANALYZE casbin_rule")
    return len(records), seconds


async def bootstrap(pool: asyncpg.Pool) -> str:
    """Migrate, store the managed lines, and bootstrap ADMIN of ADMIN_ACCOUNT: its token."""
    async with pool.acquire() as conn:
        await migrate_authz(conn)
    state = PolicyState()
    events = OutboxEvents("audit.events.v1")
    db = Connections(pool)
    management = Management(db, state, events, Guard(state, db, events))
    async with pool.acquire() as conn:
        await state.load(conn)
    await management.sync_managed_lines()
    return await bootstrap_admin(management, ADMIN_ACCOUNT, ADMIN)


def server_env(database_url: str, port: int, workers: int = 1) -> dict[str, str]:
    return {
        **os.environ,
        "AUTHZ_DATABASE_URL": database_url,
        "AUTHZ_PORT": str(port),
        "AUTHZ_WORKERS": str(workers),
        "AUTHZ_RUN_RELAY": "false",
        "AUTHZ_LOG_LEVEL": "WARNING",
        "AUTHZ_METRICS_PORT": "0",  # served, as in production, on a free port
    }


@dataclass
class GrpcSetup:
    processes: Processes
    authz: str
    echo: str
    token: str
    work: Path
    workers: int = 1
    starts: dict[str, float] = field(default_factory=dict)


async def verify_over_grpc(
    target: str, token: str, reqs: list[CheckRequest], expected: list[bool]
) -> tuple[int, int, int]:
    """BatchCheck the requests; (agreeing, asked, item errors)."""
    same = errors = 0
    async with grpc.aio.insecure_channel(
        target,
        interceptors=[BearerToken(token)],  # type: ignore[list-item]
    ) as channel:
        stub = pb_grpc.AccessServiceStub(channel)
        for i in range(0, len(reqs), 1000):
            chunk = reqs[i : i + 1000]
            reply = await stub.BatchCheck(pb.BatchCheckRequest(items=[to_pb(r) for r in chunk]))
            for result, want in zip(reply.results, expected[i : i + 1000], strict=True):
                errors += result.HasField("error")
                same += result.allowed == want and not result.HasField("error")
    return same, len(reqs), errors


async def load_runs(
    args: argparse.Namespace,
    setup: GrpcSetup,
    lines: int,
    reqs: list[pb.CheckRequest],
    batches: dict[int, list[pb.BatchCheckRequest]],
    console: Console,
) -> tuple[list[RpcPair], list[RpcPair]]:
    use_ghz = args.load_generator == "ghz" or (args.load_generator == "auto" and GHZ.exists())
    metadata = setup.work / "metadata.json"
    metadata.write_text(json.dumps({"authorization": f"Bearer {setup.token}"}))
    files: dict[str, Path] = {"Check": setup.work / "check.bin"}
    _write_delimited(files["Check"], reqs)
    for size, messages in batches.items():
        files[f"BatchCheck{size}"] = setup.work / f"batch{size}.bin"
        _write_delimited(files[f"BatchCheck{size}"], messages)

    async def run(target: str, key: str, concurrency: int, duration: float) -> Rpc | None:
        method = "Check" if key == "Check" else "BatchCheck"
        authz = target == setup.authz
        try:
            if use_ghz:
                meta = metadata if authz else None
                return await ghz_run(target, method, files[key], meta, concurrency, duration)
            messages = reqs if key == "Check" else batches[int(key.removeprefix("BatchCheck"))]
            token = setup.token if authz else None
            return await python_run(target, method, messages, token, concurrency, duration)
        except (OSError, ValueError, KeyError, TimeoutError) as exc:
            console.print(f"[red]load run {key} c={concurrency} on {target} failed: {exc!r}")
            return None

    generator = "ghz" if use_ghz else "grpc.aio client loop"
    console.print(f"  gRPC load by {generator}, {args.duration_s:.0f} s per run", style="dim")
    for target in (setup.echo, setup.authz):  # warm-up, not reported
        await run(target, "Check", 16, min(2.0, args.duration_s))
    unary, batch = [], []
    for concurrency in _ints(args.concurrency):
        echo = await run(setup.echo, "Check", concurrency, args.duration_s)
        authz = await run(setup.authz, "Check", concurrency, args.duration_s)
        unary.append(RpcPair(lines, "Check", concurrency, 1, echo, authz, setup.workers))
    for size in batches:
        key = f"BatchCheck{size}"
        echo = await run(setup.echo, key, args.batch_concurrency, args.duration_s)
        authz = await run(setup.authz, key, args.batch_concurrency, args.duration_s)
        batch.append(
            RpcPair(
                lines,
                f"BatchCheck x{size:,}",
                args.batch_concurrency,
                size,
                echo,
                authz,
                setup.workers,
            )
        )
    for pair in (*unary, *batch):
        for rpc in (pair.echo, pair.authz):
            if rpc is not None and rpc.errors:
                console.print(
                    f"  [yellow]{pair.call} c={pair.concurrency}: {rpc.errors} errors,"
                    f" e.g. {rpc.error_sample}"
                )
    return unary, batch


async def first_allowed(
    stub: pb_grpc.AccessServiceAsyncStub, req: pb.CheckRequest, timeout_s: float
) -> tuple[float, int] | None:
    """Check back to back until allowed: (when, attempts), or None past timeout_s."""
    start = time.perf_counter()
    attempts = 0
    while time.perf_counter() - start < timeout_s:
        attempts += 1
        reply = await stub.Check(req)
        if reply.allowed:
            return time.perf_counter(), attempts
    return None


async def allowed_once(
    stub: pb_grpc.AccessServiceAsyncStub, req: pb.CheckRequest
) -> tuple[float, int] | None:
    reply = await stub.Check(req)
    return (time.perf_counter(), 1) if reply.allowed else None


async def returned_at(call: Awaitable[Any]) -> float:
    await call
    return time.perf_counter()


async def freshness(
    setup: GrpcSetup, replica_b: str, samples: int, phase_timeout: float
) -> tuple[list[tuple[Latency, Latency | None]], int, int]:
    """Writes on replica A; (latency rows beside their baselines, allowed on A's first Check
    after the write, writes)."""
    series: dict[str, list[float]] = {k: [] for k in ("write", "a", "b", "b_rev", "a0", "b0")}
    at_once = done = 0
    interceptors: Any = [BearerToken(setup.token)]
    async with (
        grpc.aio.insecure_channel(setup.authz, interceptors=interceptors) as channel_a,
        grpc.aio.insecure_channel(replica_b, interceptors=interceptors) as channel_b,
    ):
        access_a = pb_grpc.AccessServiceStub(channel_a)
        access_b = pb_grpc.AccessServiceStub(channel_b)
        bindings = pb_grpc.RoleBindingServiceStub(channel_a)
        users = pb_grpc.UserServiceStub(channel_a)
        fresh_user = "fresh-user"
        await users.CreateUser(
            pb.CreateUserRequest(user=pb.User(account=ADMIN_ACCOUNT, identifier=fresh_user))
        )
        principal = pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier=fresh_user)
        phase_end = time.perf_counter() + phase_timeout
        for i in range(samples):
            if time.perf_counter() > phase_end:
                break
            scope = f"{ADMIN_ACCOUNT}/fresh/p{i}"
            req = pb.CheckRequest(
                principal=principal,
                resource_scope=scope,
                resource_type="PIPELINE",
                resource_identifier="pipeline1",
                permission="core_pipeline_view",
            )
            before = await asyncio.gather(access_a.Check(req), access_b.Check(req))
            if any(r.allowed for r in before):
                raise RuntimeError(f"{scope}: allowed before the binding exists")
            binding = pb.RoleBinding(
                scope=scope,
                identifier=f"fresh-{i}",
                principal=principal,
                role="_project_viewer",
                resource_group="_all_project_level_resources",
            )
            t0 = time.perf_counter()
            reply = await bindings.CreateRoleBinding(
                pb.CreateRoleBindingRequest(role_binding=binding)
            )
            returned = time.perf_counter()
            series["write"].append(returned - t0)
            at_revision = pb.CheckRequest()
            at_revision.CopyFrom(req)
            at_revision.at_least_revision = reply.revision
            a, b, b_rev = await asyncio.gather(
                first_allowed(access_a, req, 5.0),
                first_allowed(access_b, req, 5.0),
                allowed_once(access_b, at_revision),
            )
            done += 1
            for key, seen in (("a", a), ("b", b), ("b_rev", b_rev)):
                if seen is not None:
                    series[key].append(seen[0] - returned)
            at_once += a is not None and a[1] == 1
            # The same two Checks once the binding is visible everywhere: the RPCs themselves.
            t0 = time.perf_counter()
            seen_a, seen_b = await asyncio.gather(
                returned_at(access_a.Check(req)), returned_at(access_b.Check(req))
            )
            series["a0"].append(seen_a - t0)
            series["b0"].append(seen_b - t0)
    rows = {
        "write": "CreateRoleBinding RPC on A (the write itself)",
        "a0": "A: Check RPC, already visible (baseline for A)",
        "a": "A: write returned -> Check on A allowed",
        "b0": "B: Check RPC, already visible (baseline for B)",
        "b": "B: write returned -> Check on B allowed (polled)",
        "b_rev": "B: write returned -> Check at_least_revision=write's",
    }
    latency = {key: Latency(what, series[key], samples) for key, what in rows.items()}
    return (
        [
            (latency["write"], None),
            (latency["a0"], None),
            (latency["a"], latency["a0"]),
            (latency["b0"], None),
            (latency["b"], latency["b0"]),
            (latency["b_rev"], latency["b0"]),
        ],
        at_once,
        done,
    )


@contextlib.asynccontextmanager
async def grpc_servers(
    database_url: str, token: str, timeout_s: float, workers: int = 1
) -> AsyncIterator[GrpcSetup]:
    work = Path(tempfile.mkdtemp(prefix="bench-authz-"))
    processes = Processes(work)
    try:
        port, echo_port = _free_port(), _free_port()
        authz = await processes.start(
            "authz-a",
            [sys.executable, "-m", "services.authz", "serve"],
            server_env(database_url, port, workers),
        )
        setup = GrpcSetup(
            processes, f"127.0.0.1:{port}", f"127.0.0.1:{echo_port}", token, work, workers
        )
        setup.starts["authz A"] = await wait_until_serving(port, authz, timeout_s, health=True)
        echo = await processes.start(
            "echo",
            [sys.executable, "-m", "bench.echo_server", "--port", str(echo_port)],
            dict(os.environ),
        )
        setup.starts["echo"] = await wait_until_serving(echo_port, echo, timeout_s, health=False)
        yield setup
    finally:
        await processes.stop_all()
        shutil.rmtree(work, ignore_errors=True)


async def grpc_phases(
    args: argparse.Namespace,
    database_url: str,
    token: str,
    policy: policy_gen.PolicySet,
    lines: int,
    console: Console,
    phases: set[str],
) -> tuple[list[RpcPair], list[RpcPair], list[tuple[Latency, Latency | None]], str]:
    admin = user_subject(ADMIN_ACCOUNT, ADMIN)
    others = policy_gen.requests(policy, 4_500, args.seed + 2, accounts=[ADMIN_ACCOUNT])
    own = policy_gen.requests_about(admin, ADMIN_ACCOUNT, 500, args.seed + 3)
    mixed = others[:4_000] + own  # requests about others (core_access_check), then about self
    mixed = [mixed[(i * 7919) % len(mixed)] for i in range(len(mixed))]  # interleaved, fixed
    index = PolicyIndex(policy.lines)
    # The admin holds _account_admin over everything in its account: every permission of it.
    admin_holds = set(catalog.all_managed_role_permissions()["_account_admin"])
    expected = [
        r.permission in admin_holds if r.subject == admin else index.check(r) for r in mixed
    ]
    pbs = [to_pb(r) for r in mixed]
    batches = {
        size: [
            pb.BatchCheckRequest(items=[pbs[(k * size + j) % len(pbs)] for j in range(size)])
            for k in range(8)
        ]
        for size in _ints(args.batch_sizes)
    }
    unary: list[RpcPair] = []
    batch: list[RpcPair] = []
    fresh: list[tuple[Latency, Latency | None]] = []
    note = ""
    first, *more = _ints(args.workers)  # freshness is measured against the first
    async with grpc_servers(database_url, token, args.phase_timeout, first) as setup:
        same, asked, errors = await verify_over_grpc(setup.authz, token, mixed, expected)
        note = (
            f"replica A served after {setup.starts['authz A']:.1f} s (load included);"
            f" {asked:,} gRPC requests ({len(own)} about the caller itself,"
            f" {sum(expected) / len(expected):.0%} allowed): BatchCheck agrees with PolicyIndex"
            f" on {same:,}/{asked:,}, {errors} item errors"
        )
        console.print(f"  {note}", style="dim")
        if "grpc" in phases:
            unary, batch = await load_runs(args, setup, lines, pbs, batches, console)
            for workers in more:  # the same runs against a server of more processes
                async with grpc_servers(
                    database_url, token, args.phase_timeout, workers
                ) as several:
                    more_unary, more_batch = await load_runs(
                        args, several, lines, pbs, batches, console
                    )
                unary += more_unary
                batch += more_batch
        if "freshness" in phases:
            port_b = _free_port()
            replica = await setup.processes.start(
                "authz-b",
                [sys.executable, "-m", "services.authz", "serve"],
                server_env(database_url, port_b),
            )
            started = await wait_until_serving(port_b, replica, args.phase_timeout, health=True)
            fresh, at_once, done = await freshness(
                setup, f"127.0.0.1:{port_b}", args.freshness_samples, args.phase_timeout
            )
            note += (
                f"; replica B served after {started:.1f} s; freshness: the first Check on A after"
                f" the write allowed in {at_once}/{done} writes"
            )
    return unary, batch, fresh, note


@dataclass
class Results:
    engines: list[EngineRun] = field(default_factory=list)
    allowed: dict[int, float] = field(default_factory=dict)  # lines -> share of cold requests
    loads: list[LoadRun] = field(default_factory=list)
    copies: dict[int, tuple[int, float]] = field(default_factory=dict)
    unary: list[RpcPair] = field(default_factory=list)
    batch: list[RpcPair] = field(default_factory=list)
    freshness: list[tuple[int, list[tuple[Latency, Latency | None]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def database_phases(
    args: argparse.Namespace,
    size: int,
    grpc_here: bool,
    phases: set[str],
    console: Console,
    results: Results,
) -> None:
    """Load, gRPC and freshness at one size, on a database of their own (dropped at the end)."""
    policy = policy_gen.generate(size, args.seed)
    lines = len(policy.lines)
    async with fresh_database(endpoints().database_url) as database_url:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=3)
        try:
            token = await bootstrap(pool)
            results.copies[lines] = await copy_lines(pool, policy)
        finally:
            await pool.close()
        if "load" in phases:
            env = {**os.environ, DATABASE_ENV: database_url}
            for what in LOADS:
                budget = args.pycasbin_budget_s if what == "casbin" else args.phase_timeout
                result = await run_child(
                    ["--child", "load", "--what", what], budget, budget, env=env
                )
                if not result.events:
                    print(f"  load {what}: {result.stderr_tail}", file=sys.stderr)
                results.loads.append(LoadRun(lines, what, result, budget))
                print(f"  load {what}: {result.seconds:.1f} s", file=sys.stderr)
        if grpc_here and phases & {"grpc", "freshness"}:
            unary, batch, fresh, note = await grpc_phases(
                args, database_url, token, policy, lines, console, phases
            )
            results.unary += unary
            results.batch += batch
            if fresh:
                results.freshness.append((lines, fresh))
            results.notes.append(f"{lines:,} lines: {note}")


def print_results(console: Console, results: Results) -> None:
    if results.engines:
        console.print(engines_table(results.engines))
        allowed = ", ".join(f"{share:.0%} at {n:,}" for n, share in results.allowed.items())
        console.print(
            f"  cold: every request distinct (allowed: {allowed}); warm: the first N requests"
            " repeated (no engine here caches decisions). p50/p99: calls timed one by one (ours:"
            f" a separate timed pass of up to {LATENCY_SAMPLES:,} calls). FastEnforcer:"
            " cache_key_order=[0] (the subject), pycasbin 2.8.0's FastModel section-loading bug"
            " patched in the bench; it never sees grants through groups, hence disagreements.",
            style="dim",
        )
    if results.loads:
        console.print(load_table(results.loads, results.copies))
    if results.unary:
        console.print(rpc_table("gRPC unary Check (requests/s)", results.unary, "RPS"))
    if results.batch:
        console.print(rpc_table("gRPC BatchCheck (decisions/s)", results.batch, "decisions/s"))
    for lines, rows in results.freshness:
        title = f"Freshness after a write, {lines:,} lines (ms; ratios over the baseline RPC)"
        console.print(latency_table(title, rows))
    for note in results.notes:
        console.print(f"  {note}", style="dim")


async def main(argv: list[str]) -> None:
    args = parse(argv)
    if args.child == "engine":
        engine_child(args.engine, args.size, args.seed, args.requests, args.hot, args.budget_s)
        return
    if args.child == "load":
        await load_child(args.what)
        return
    started = time.perf_counter()
    console = Console(width=max(Console().width, 220))  # rows unwrapped when piped
    sizes = _ints(args.sizes)
    grpc_sizes = set(_ints(args.grpc_sizes) if args.grpc_sizes else [max(sizes)])
    phases = {p for p in args.phases.split(",") if p}
    console.print(
        f"authz benchmark: sizes {', '.join(f'{s:,}' for s in sizes)} lines (seed {args.seed});"
        f" {args.requests:,} cold requests, {args.hot:,} warm; pycasbin budget"
        f" {args.pycasbin_budget_s:.0f} s; python {platform.python_version()},"
        f" pycasbin {_version('pycasbin')}, grpcio {grpc.__version__}, {os.cpu_count()} CPUs;"
        f" gRPC at {', '.join(f'{s:,}' for s in sorted(grpc_sizes))}"
    )
    results = Results()
    for size in sizes:
        console.print(f"[bold]size {size:,}[/bold]")
        if "engines" in phases:
            runs = await engine_runs(args, size)
            results.engines += runs
            ours = next((r for r in runs if r.engine == "ours" and r.decisions), None)
            if ours is not None:
                results.allowed[ours.lines] = ours.decisions.count("1") / len(ours.decisions)
        if phases & {"load", "grpc", "freshness"}:
            await database_phases(args, size, size in grpc_sizes, phases, console, results)
    print_results(console, results)
    console.print(f"  whole run: {time.perf_counter() - started:.0f} s", style="dim")


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

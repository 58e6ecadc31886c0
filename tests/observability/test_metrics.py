"""Every process of the pipeline serves /metrics, and after real traffic the values move by what
the traffic did: authz (gRPC by method and code, decisions, the decision cache, API key results,
the policy revision), the standalone outbox relay (rows published, the backlog), the projector
worker (events stored, the group's lag per partition) and the audit query API (query latency by
filter shape). Each is the command an operator runs, as a process of its own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from tests.audit.helpers import Workers, wait_rows
from tests.harness.endpoints import ROOT
from tests.harness.metrics import Scrape, scrape, try_scrape
from tests.harness.services import free_port

pytestmark = pytest.mark.integration

WRITES = 3
ALLOWED_CHECKS = 5
UNKNOWN_KEY = "aak_0123456789abcdef_" + "x" * 43


@dataclass
class Processes:
    tmp_path: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, module: str, *args: str, env: dict[str, str]) -> None:
        log = (self.tmp_path / f"{name}.log").open("wb")
        self.started.append(
            subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
            for p in self.tmp_path.glob("*.log")
        )

    def stop_all(self) -> None:
        for proc in self.started:
            proc.terminate()
        for proc in self.started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


async def eventually(
    port: int, holds: Callable[[Scrape], bool], what: str, processes: Processes
) -> Scrape:
    """The first scrape of `port` where `holds` is true (samples move as the processes work)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        scraped = try_scrape(port)
        if scraped is not None and holds(scraped):
            return scraped
        assert loop.time() < deadline, f"never: {what}\n{processes.logs()}"
        await asyncio.sleep(0.2)


def bootstrap(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "services.authz", "bootstrap", "--account", "acme", "--admin",
         "root"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[-1]


def check(identifier: str, permission: str = "core_pipeline_view") -> pb.CheckRequest:
    return pb.CheckRequest(
        principal=pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier=identifier),
        resource_scope="acme",
        resource_type="PIPELINE",
        resource_identifier="deploy",
        permission=permission,
    )


async def test_each_process_serves_metrics_that_move_with_the_traffic(
    processes: Processes,
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    unique_name: str,
    tmp_path: Path,
) -> None:
    authz_port, authz_metrics, relay_port = free_port(), free_port(), free_port()
    worker_port, query_port, query_metrics = free_port(), free_port(), free_port()
    authz_env = {
        "AUTHZ_DATABASE_URL": database_url,
        "AUTHZ_PORT": str(authz_port),
        "AUTHZ_METRICS_PORT": str(authz_metrics),
        "AUTHZ_RUN_RELAY": "false",  # the relay runs alone, with metrics of its own
        "AUTHZ_AUDIT_TOPIC": topic,
        "AUTHZ_SHUTDOWN_GRACE_S": "1",
    }
    token = bootstrap(authz_env)  # 3 events in the outbox
    processes.start("authz", "services.authz", "serve", env=authz_env)
    processes.start(
        "relay",
        "libs.outbox",
        env={
            "OUTBOX_DATABASE_URL": database_url,
            "OUTBOX_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "OUTBOX_DECLARE_TOPICS": json.dumps([topic]),
            "OUTBOX_HEALTH_PORT": str(relay_port),
            "OUTBOX_POLL_INTERVAL_S": "0.5",
        },
    )
    workers = Workers(kafka_bootstrap, topic, f"g-{unique_name}", database_url, tmp_path, [])
    workers.start(AUDIT_HEALTH_PORT=str(worker_port), AUDIT_HEALTH_INTERVAL_S="0.5")
    processes.started += workers.started
    processes.start(
        "query",
        "services.audit",
        "serve",
        env={
            "AUDIT_DATABASE_URL": database_url,
            "AUDIT_PORT": str(query_port),
            "AUDIT_METRICS_PORT": str(query_metrics),
            "AUDIT_AUTHZ_TARGET": f"127.0.0.1:{authz_port}",
        },
    )
    ready = {authz_metrics: "authz", relay_port: "relay", worker_port: "projector"}
    ready[query_metrics] = "query API"
    before = {
        port: await eventually(port, lambda _: True, f"{name} serves /metrics", processes)
        for port, name in ready.items()
    }
    # The relay may publish the bootstrap's events any time: wait until it has, so that what
    # moves afterwards is this test's traffic.
    before[relay_port] = await eventually(
        relay_port,
        lambda s: s.value("outbox_published_total") == 3,
        "the bootstrap's events published",
        processes,
    )

    # authz: writes, checks allowed (one request, repeated) and denied, refused tokens, bad input.
    auth = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{authz_port}") as channel:
        await eventually(
            authz_metrics, lambda _: True, "authz up", processes
        )  # metrics start before the server: wait for gRPC too
        await channel.channel_ready()
        users = pb_grpc.UserServiceStub(channel)
        access = pb_grpc.AccessServiceStub(channel)
        for name in ("alice", "bob", "carol")[:WRITES]:
            written = await users.CreateUser(
                pb.CreateUserRequest(
                    user=pb.User(account="acme", identifier=name, email=f"{name}@example.com")
                ),
                metadata=auth,
            )
        for _ in range(ALLOWED_CHECKS):
            assert (await access.Check(check("root"), metadata=auth)).allowed
        assert not (await access.Check(check("alice"), metadata=auth)).allowed
        for bad in ("nonsense", UNKNOWN_KEY):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await access.Check(check("root"), metadata=(("authorization", f"Bearer {bad}"),))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await access.Check(check("root", "core_nothing_at_all"), metadata=auth)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    authz_after = scrape(authz_metrics)

    def moved(name: str, **labels: str) -> float:
        return authz_after.value(name, **labels) - before[authz_metrics].value(name, **labels)

    def handled(service: str, method: str, code: str) -> float:
        labels = {"grpc_service": service, "grpc_method": method, "grpc_code": code}
        return moved("grpc_server_handled_total", **labels)

    access_service, user_service = "authz.v1.AccessService", "authz.v1.UserService"
    assert handled(access_service, "Check", "OK") == ALLOWED_CHECKS + 1
    assert handled(access_service, "Check", "UNAUTHENTICATED") == 2
    assert handled(access_service, "Check", "INVALID_ARGUMENT") == 1
    assert handled(user_service, "CreateUser", "OK") == WRITES
    assert moved("grpc_server_handling_seconds_count", grpc_method="Check") == ALLOWED_CHECKS + 4
    assert moved("authz_decisions_total", rpc="Check", outcome="allowed") == ALLOWED_CHECKS
    assert moved("authz_decisions_total", rpc="Check", outcome="denied") == 1
    misses = moved("authz_decision_cache_misses_total")
    assert 2 <= misses < ALLOWED_CHECKS + 1  # two distinct requests; repeats from the cache
    accepted = WRITES + ALLOWED_CHECKS + 2  # every call with the good token, the invalid one too
    assert moved("authz_api_key_authentications_total", result="accepted") == accepted
    assert moved("authz_api_key_authentications_total", result="malformed") == 1
    assert moved("authz_api_key_authentications_total", result="unknown_key") == 1
    assert authz_after.value("authz_policy_revision") == written.revision
    assert authz_after.value("authz_policy_caught_up_timestamp_seconds") > 0

    # The relay publishes the writes' events; nothing waits afterwards.
    relay_after = await eventually(
        relay_port,
        lambda s: (
            s.value("outbox_published_total") >= 3 + WRITES and s.value("outbox_pending_rows") == 0
        ),
        "the writes' events published and the backlog empty",
        processes,
    )
    assert relay_after.value("outbox_published_total") == 3 + WRITES
    assert relay_after.value("outbox_oldest_pending_age_seconds") == 0
    assert relay_after.value("outbox_publish_failures_total") == 0
    assert relay_after.value("outbox_dead_rows_total") == 0

    # The projector stores them; the group's lag comes back to 0 on every partition.
    await wait_rows(database_url, 3 + WRITES, workers)
    worker_after = await eventually(
        worker_port,
        lambda s: (
            s.value("audit_projector_events_stored_total") == 3 + WRITES
            and len(s.series("audit_projector_lag")) >= 1
            and s.value("audit_projector_lag") == 0
        ),
        "the events stored and the lag of every partition at 0",
        processes,
    )
    assert worker_after.value("audit_projector_batch_seconds_count") >= 1
    assert worker_after.value("audit_projector_dead_letters_total") == 0

    # The query API: two filter shapes, one event.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{query_port}") as channel:
        stub = q_grpc.AuditQueryServiceStub(channel)
        scope = q.ScopeFilter(scope="acme")
        page = await stub.ListEvents(
            q.ListEventsRequest(filter=q.EventFilter(scopes=[scope])), metadata=auth
        )
        assert len(page.events) == 3 + WRITES
        by_root = q.EventFilter(scopes=[scope], principals=[q.PrincipalFilter(identifier="root")])
        await stub.ListEvents(q.ListEventsRequest(filter=by_root), metadata=auth)
        await stub.GetEvent(q.GetEventRequest(event_id=page.events[0].event_id), metadata=auth)
    query_after = scrape(query_metrics)

    def query_moved(name: str, **labels: str) -> float:
        return query_after.value(name, **labels) - before[query_metrics].value(name, **labels)

    service = "audit.v1.AuditQueryService"
    assert query_moved("grpc_server_handled_total", grpc_service=service, grpc_method="ListEvents",
                       grpc_code="OK") == 2  # fmt: skip
    assert query_moved("grpc_server_handled_total", grpc_service=service, grpc_method="GetEvent",
                       grpc_code="OK") == 1  # fmt: skip
    assert query_moved("audit_query_seconds_count", shape="scope") == 1
    assert query_moved("audit_query_seconds_count", shape="principals") == 1

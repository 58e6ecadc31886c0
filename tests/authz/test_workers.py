"""`serve` with AUTHZ_WORKERS=2: two processes share the port, each a whole replica that sees the
other's writes, and the parent stops them together."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from libs.runtime.bearer_token import BearerToken
from tests.harness.endpoints import ROOT
from tests.harness.metrics import scrape

pytestmark = pytest.mark.integration

WORKERS = 2
CONNECTIONS = 16  # spread by address hash: all on one worker 1 time in 30,000


@dataclass
class Served:
    process: asyncio.subprocess.Process
    port: int
    token: str
    metrics_port: int

    def workers(self) -> list[int]:
        """The supervisor's worker processes (not multiprocessing's resource tracker)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()]
        return [p for p in pids if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def run(*args: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.authz", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return out.decode()


def channel(port: int, token: str) -> grpc.aio.Channel:
    # A channel option of its own keeps gRPC from sharing one connection between channels.
    return grpc.aio.insecure_channel(
        f"127.0.0.1:{port}",
        options=[("grpc.use_local_subchannel_pool", 1)],
        interceptors=[BearerToken(token)],  # type: ignore[list-item]
    )


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "AUTHZ_DATABASE_URL": database_url,
        "AUTHZ_PORT": str(port),
        "AUTHZ_WORKERS": str(WORKERS),
        "AUTHZ_RUN_RELAY": "false",
        "AUTHZ_SHUTDOWN_GRACE_S": "2",
        "AUTHZ_METRICS_PORT": str(metrics_port),
    }
    token = (await run("bootstrap", "--account", "a", "--admin", "root", env=env)).split()[-1]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.authz", "serve", cwd=ROOT, env=env,
            stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    try:
        served = Served(process, port, token, metrics_port)
        await until_listening(served, 60)
        yield served
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the supervisor and its workers
        await process.wait()
        print(log.read_text()[-3000:])


LISTEN, ESTABLISHED = "0A", "01"  # TCP states in /proc/net/tcp


def sockets_by_pid(port: int, pids: list[int], state: str) -> dict[int, int]:
    """How many sockets on the port in that state each process holds (from /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return {pid: sum(1 for link in fd_links(pid) if link[8:-1] in inodes) for pid in pids}


def fd_links(pid: int) -> list[str]:
    """What a process's file descriptors point to ("socket:[inode]", ...); fds come and go."""
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):
            links.append(os.readlink(fd))
    return links


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def until_listening(served: Served, deadline_s: float) -> None:
    """Until every worker has loaded the policy and listens on the port."""
    loop = asyncio.get_running_loop()
    stop = loop.time() + deadline_s
    while True:
        workers = served.workers() if served.process.returncode is None else []
        listening = sockets_by_pid(served.port, workers, LISTEN)
        if len(workers) == WORKERS and all(listening.values()):
            return
        assert loop.time() < stop, f"workers {workers} listening: {listening}"
        await asyncio.sleep(0.2)


async def test_workers_share_the_port_and_each_sees_the_others_writes(served: Served) -> None:
    workers = served.workers()
    assert len(workers) == WORKERS
    channels = [channel(served.port, served.token) for _ in range(CONNECTIONS)]
    try:
        stubs = [pb_grpc.AccessServiceStub(ch) for ch in channels]
        for stub in stubs:
            await stub.WhoAmI(pb.WhoAmIRequest())
        held = sockets_by_pid(served.port, workers, ESTABLISHED)
        assert all(count > 0 for count in held.values()), held

        viewer = pb.CheckRequest(
            principal=pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier="alice"),
            resource_scope="a",
            resource_type="USER",
            permission="core_user_view",
        )
        assert not any([(await stub.Check(viewer)).allowed for stub in stubs])
        users = pb_grpc.UserServiceStub(channels[0])
        await users.CreateUser(pb.CreateUserRequest(user=pb.User(account="a", identifier="alice")))
        bindings = pb_grpc.RoleBindingServiceStub(channels[0])
        written = await bindings.CreateRoleBinding(
            pb.CreateRoleBindingRequest(
                role_binding=pb.RoleBinding(
                    scope="a",
                    identifier="b1",
                    principal=pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier="alice"),
                    role="_account_viewer",
                    resource_group="_all_account_level_resources",
                )
            )
        )
        viewer.at_least_revision = written.revision
        assert all([(await stub.Check(viewer)).allowed for stub in stubs])
    finally:
        for ch in channels:
            await ch.close(None)

    served.process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(served.process.wait(), 30)
    assert served.process.returncode == 0
    assert not [pid for pid in workers if alive(pid)]


async def test_when_a_worker_dies_the_service_stops_with_an_error(served: Served) -> None:
    first, second = served.workers()
    os.kill(first, signal.SIGKILL)
    await asyncio.wait_for(served.process.wait(), 30)
    assert served.process.returncode != 0
    assert not alive(second)


async def test_the_parent_serves_the_metrics_of_every_worker(served: Served) -> None:
    """prometheus_client's multiprocess mode: counters are the sum over the workers, and each
    worker's policy revision is a series of its own (label pid)."""
    workers = served.workers()
    before = scrape(served.metrics_port)
    channels = [channel(served.port, served.token) for _ in range(CONNECTIONS)]
    try:
        stubs = [pb_grpc.AccessServiceStub(ch) for ch in channels]
        for stub in stubs:
            await stub.WhoAmI(pb.WhoAmIRequest())
        held = sockets_by_pid(served.port, workers, ESTABLISHED)
        assert all(count > 0 for count in held.values()), held  # both workers took calls
        users = pb_grpc.UserServiceStub(channels[0])
        written = await users.CreateUser(
            pb.CreateUserRequest(user=pb.User(account="a", identifier="alice"))
        )
        me = pb.CheckRequest(
            principal=pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier="root"),
            resource_scope="a",
            resource_type="USER",
            permission="core_user_view",
            at_least_revision=written.revision,
        )
        for stub in stubs:
            assert (await stub.Check(me)).allowed
    finally:
        for ch in channels:
            await ch.close(None)
    after = scrape(served.metrics_port)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    access = {"grpc_service": "authz.v1.AccessService", "grpc_code": "OK"}
    assert moved("grpc_server_handled_total", grpc_method="WhoAmI", **access) == CONNECTIONS
    assert moved("grpc_server_handled_total", grpc_method="Check", **access) == CONNECTIONS
    assert moved("authz_decisions_total", rpc="Check", outcome="allowed") == CONNECTIONS
    revisions = {s["pid"]: s for s in after.series("authz_policy_revision")}
    assert set(revisions) == {str(pid) for pid in workers}
    for pid in revisions:  # every worker answered at the write's revision, so it reached it
        assert after.value("authz_policy_revision", pid=pid) >= written.revision

"""SCIM provisioning beside the same writes through the gRPC API.

One authz server (no relay) on a fresh database, serving gRPC and SCIM. The same directory is
provisioned twice, into two accounts: N users, then G groups of M members each.
- SCIM, as an identity provider sends it, authenticated as a service account: per user
  `GET /Users?filter=userName eq "..."` (Okta and Entra look before they create) and
  `POST /Users`; per group `POST /Groups`, then one `PATCH` adding its M members.
- gRPC (the baseline), as the account's administrator: CreateUser per user; CreateUserGroup,
  then UpdateUserGroup with its M members, per group.
C requests in flight at a time on each side. Prints wall time, requests/s, p50/p99 per request
kind and the ratio to the baseline.

    python -m bench scim [-- --users 10000 --groups 1000 --members 20 --concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx2
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from bench.authz_client import admin_channel
from bench.endpoints import endpoints, fresh_database
from bench.report import Latency, ratio
from services.authz.server import RunningServer, running_server
from services.authz.settings import AuthzSettings

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Run:
    """One side's measurements: samples per request kind, and the wall time of each phase."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    async def timed(self, what: str, call: Awaitable[object]) -> None:
        started = time.perf_counter()
        await call
        self.samples.setdefault(what, []).append(time.perf_counter() - started)


async def in_parallel(
    concurrency: int, count: int, step: Callable[[int], Awaitable[None]]
) -> float:
    """step(0) .. step(count - 1), `concurrency` at a time; the wall time."""
    numbers = iter(range(count))
    started = time.perf_counter()

    async def worker() -> None:
        for i in numbers:
            await step(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def members_of(g: int, users: int, members: int) -> list[int]:
    return [(g * members + k) % users for k in range(members)]


async def provision_scim(server: RunningServer, args: argparse.Namespace) -> Run:
    token = await scim_token(server, "scim")
    run = Run()
    base = f"http://127.0.0.1:{server.scim_port}/scim/v2/accounts/scim"
    limits = httpx2.Limits(max_connections=args.concurrency)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    ids: dict[int, str] = {}
    async with httpx2.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60
    ) as http:

        async def user(i: int) -> None:
            name = f"user{i}@example.com"
            query = {"filter": f'userName eq "{name}"'}
            await run.timed("lookup (GET filter)", check(http.get("/Users", params=query)))
            document = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": name,
                "displayName": f"User {i}",
                "emails": [{"value": name, "primary": True, "type": "work"}],
                "externalId": f"ext-{i}",
                "active": True,
            }
            started = time.perf_counter()
            answer = await check(http.post("/Users", json=document))
            run.samples.setdefault("create user", []).append(time.perf_counter() - started)
            ids[i] = answer.json()["id"]

        async def group(g: int) -> None:
            started = time.perf_counter()
            made = await check(http.post("/Groups", json={"displayName": f"Group {g}"}))
            run.samples.setdefault("create group", []).append(time.perf_counter() - started)
            value = [{"value": ids[u]} for u in members_of(g, args.users, args.members)]
            operations = [{"op": "add", "path": "members", "value": value}]
            patch = {"schemas": [PATCH], "Operations": operations}
            gid = made.json()["id"]
            await run.timed("add members", check(http.patch(f"/Groups/{gid}", json=patch)))

        run.seconds["users"] = await in_parallel(args.concurrency, args.users, user)
        run.seconds["groups"] = await in_parallel(args.concurrency, args.groups, group)
    return run


async def check(request: Awaitable[httpx2.Response]) -> httpx2.Response:
    answer = await request
    if answer.status_code >= 300:
        raise RuntimeError(f"SCIM answered {answer.status_code}: {answer.text[:300]}")
    return answer


async def scim_token(server: RunningServer, account: str) -> str:
    """A service account of the account, bound to _account_admin, and its key's token."""
    channel = await admin_channel(server, account)
    try:
        principal = pb.Principal(
            type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="idp", scope=account
        )
        await pb_grpc.ServiceAccountServiceStub(channel).CreateServiceAccount(
            pb.CreateServiceAccountRequest(
                service_account=pb.ServiceAccount(scope=account, identifier="idp")
            )
        )
        await pb_grpc.RoleBindingServiceStub(channel).CreateRoleBinding(
            pb.CreateRoleBindingRequest(
                role_binding=pb.RoleBinding(
                    scope=account,
                    identifier="idp-admin",
                    principal=principal,
                    role="_account_admin",
                    resource_group="_all_resources_including_child_scopes",
                )
            )
        )
        issued = await pb_grpc.ApiKeyServiceStub(channel).CreateApiKey(
            pb.CreateApiKeyRequest(
                api_key=pb.ApiKey(scope=account, identifier="idp-key", owner=principal)
            )
        )
        return issued.token
    finally:
        await channel.close(None)


async def provision_grpc(server: RunningServer, args: argparse.Namespace) -> Run:
    channel = await admin_channel(server, "grpc")
    users = pb_grpc.UserServiceStub(channel)
    groups = pb_grpc.UserGroupServiceStub(channel)
    run = Run()

    async def user(i: int) -> None:
        name = f"user{i}@example.com"
        created = pb.User(account="grpc", identifier=f"user{i}", email=name, display_name=name)
        await run.timed("create user", users.CreateUser(pb.CreateUserRequest(user=created)))

    async def group(g: int) -> None:
        empty = pb.UserGroup(scope="grpc", identifier=f"group{g}", name=f"Group {g}")
        started = time.perf_counter()
        made = await groups.CreateUserGroup(pb.CreateUserGroupRequest(user_group=empty))
        run.samples.setdefault("create group", []).append(time.perf_counter() - started)
        full = pb.UserGroup()
        full.CopyFrom(made.user_group)
        full.members.extend(f"user{u}" for u in members_of(g, args.users, args.members))
        await run.timed("add members", groups.UpdateUserGroup(full))

    try:
        run.seconds["users"] = await in_parallel(args.concurrency, args.users, user)
        run.seconds["groups"] = await in_parallel(args.concurrency, args.groups, group)
    finally:
        await channel.close(None)
    return run


def table(args: argparse.Namespace, scim: Run, grpc: Run) -> Table:
    out = Table(
        title=f"Provisioning {args.users} users and {args.groups} groups of {args.members}"
        f" members, {args.concurrency} requests in flight",
        title_justify="left",
    )
    for column in ("what", "gRPC (baseline)", "SCIM", "SCIM vs gRPC"):
        out.add_column(column, justify="left" if column == "what" else "right")
    for phase, count in (("users", args.users), ("groups", args.groups)):
        out.add_row(
            f"wall time, {phase} (s)",
            f"{grpc.seconds[phase]:.1f}",
            f"{scim.seconds[phase]:.1f}",
            ratio(scim.seconds[phase], grpc.seconds[phase]),
        )
        out.add_row(
            f"{phase}/s",
            f"{count / grpc.seconds[phase]:.0f}",
            f"{count / scim.seconds[phase]:.0f}",
            ratio(count / scim.seconds[phase], count / grpc.seconds[phase]),
        )
    kinds: Sequence[str] = ("lookup (GET filter)", "create user", "create group", "add members")
    for kind in kinds:
        s = Latency(kind, scim.samples.get(kind, []), 0)
        g = Latency(kind, grpc.samples.get(kind, []), 0)
        for q in (50, 99):
            base = g.quantile(q) if g.samples_s else float("nan")
            out.add_row(
                f"{kind} p{q} (ms)",
                f"{base * 1000:.2f}" if g.samples_s else "-",
                f"{s.quantile(q) * 1000:.2f}",
                ratio(s.quantile(q), base),
            )
    return out


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scim")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=max(Console().width, 110))
    settings = {"port": 0, "run_relay": False, "scim_port": 0, "pool_size": 20}
    async with (
        fresh_database(endpoints().database_url) as database_url,
        running_server(
            AuthzSettings(database_url=SecretStr(database_url), **settings)  # type: ignore[arg-type]
        ) as server,
    ):
        grpc = await provision_grpc(server, args)
        scim = await provision_scim(server, args)
    console.print(table(args, scim, grpc))

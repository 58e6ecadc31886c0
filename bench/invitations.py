"""Invitations: what joining by invitation costs beside the plain writes it replaces.

One authz server (no relay) on a fresh database; over gRPC, N times each, one at a time:
CreateUser (the baseline: one entity, one event), InviteUser (user, invitation, notification,
event), AcceptInvitation (user activated, its bindings re-derived, a key and a token) beside
CreateApiKey (a key and a token for oneself), and AddMember of an ACTIVE user beside AddMember
of an INVITED one, each into a group of its own growing to N (the derivation asks which members
are invited). Accepting re-derives the lines of the user's groups: measured for users in no
group and for members of a group of N. Prints p50/p99 and ratios.

    python -m bench invitations [-- --n 300]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg
import grpc
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from authz.v1 import invitations_pb2 as ipb
from authz.v1 import invitations_pb2_grpc as ipb_grpc
from authz.v1 import notifications_pb2 as npb
from bench.authz_client import ADMIN, admin_channel
from bench.endpoints import endpoints, fresh_database
from bench.report import Latency
from libs.events.topics import NOTIFICATIONS_TOPIC
from services.authz.domain.rate_limit import RateLimiter
from services.authz.server import running_server
from services.authz.settings import AuthzSettings

Step = Callable[[int], Awaitable[object]]


async def timed(n: int, step: Step, what: str) -> Latency:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await step(i)
        samples.append(time.perf_counter() - started)
    return Latency(what, samples, n)


async def secrets_of(database_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT payload FROM outbox WHERE topic = $1", NOTIFICATIONS_TOPIC)
    finally:
        await conn.close()
    notes = [npb.Notification.FromString(r["payload"]).invitation for r in rows]
    return {n.user: n.secret for n in notes}


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench invitations")
    parser.add_argument("--n", type=int, default=300, help="calls of each kind")
    n = parser.parse_args(argv).n
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=max(Console().width, 120))
    async with (
        fresh_database(endpoints().database_url) as database_url,
        running_server(
            AuthzSettings(database_url=SecretStr(database_url), port=0, run_relay=False)
        ) as server,
    ):
        server.invitations.limiter = RateLimiter(burst=10 * n, per_minute=0.0)
        channel = await admin_channel(server, "a")
        invites = ipb_grpc.InvitationServiceStub(channel)
        users = pb_grpc.UserServiceStub(channel)
        groups = pb_grpc.UserGroupServiceStub(channel)
        keys = pb_grpc.ApiKeyServiceStub(channel)
        me = pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier=ADMIN)
        for group in ("active", "invited"):
            await groups.CreateUserGroup(
                pb.CreateUserGroupRequest(user_group=pb.UserGroup(scope="a", identifier=group))
            )

        async def create_user(i: int) -> object:
            user = pb.User(account="a", identifier=f"c{i}", email=f"c{i}@x.org")
            return await users.CreateUser(pb.CreateUserRequest(user=user))

        async def invite_user(i: int) -> object:
            request = ipb.InviteUserRequest(account="a", user=f"i{i}", email=f"i{i}@x.org")
            return await invites.InviteUser(request)

        async def invite_loner(i: int) -> object:
            request = ipb.InviteUserRequest(account="a", user=f"j{i}", email=f"j{i}@x.org")
            return await invites.InviteUser(request)

        async def create_key(i: int) -> object:
            key = pb.ApiKey(scope="a", identifier=f"k{i}", owner=me)
            return await keys.CreateApiKey(pb.CreateApiKeyRequest(api_key=key))

        async def add_active(i: int) -> object:
            return await groups.AddMember(
                pb.MemberRequest(scope="a", identifier="active", user=f"c{i}")
            )

        async def add_invited(i: int) -> object:
            return await groups.AddMember(
                pb.MemberRequest(scope="a", identifier="invited", user=f"i{i}")
            )

        try:
            rows = [
                (await timed(n, create_user, "CreateUser"), None),
                (await timed(n, invite_user, "InviteUser"), 0),
                (await timed(n, add_active, "AddMember, active user"), None),
                (await timed(n, add_invited, "AddMember, invited user"), 2),
                (await timed(n, create_key, "CreateApiKey"), None),
            ]
            await timed(n, invite_loner, "InviteUser")
            secrets = await secrets_of(database_url)
            tokenless = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
            anonymous = ipb_grpc.InvitationServiceStub(tokenless)

            def accept(prefix: str) -> Step:
                async def step(i: int) -> object:
                    request = ipb.AcceptInvitationRequest(secret=secrets[f"{prefix}{i}"])
                    return await anonymous.AcceptInvitation(request)

                return step

            rows.append((await timed(n, accept("j"), "AcceptInvitation, in no group"), 4))
            rows.append((await timed(n, accept("i"), f"AcceptInvitation, in a group of {n}"), 4))
            await tokenless.close(None)
        finally:
            await channel.close(None)
    table = Table(title=f"Invitation RPCs, {n} calls each, one at a time (ms)")
    for column in ("call", "p50", "p99", "p50 vs baseline", "baseline"):
        table.add_column(column, justify="left" if column in ("call", "baseline") else "right")
    for latency, base_index in rows:
        base = rows[base_index][0] if base_index is not None else None
        ratio = f"{latency.quantile(50) / base.quantile(50):.2f}x" if base else "-"
        table.add_row(
            latency.what,
            f"{latency.quantile(50) * 1000:.2f}",
            f"{latency.quantile(99) * 1000:.2f}",
            ratio,
            base.what if base else "",
        )
    console.print(table)

"""What governance adds to a write: CreateRoleBinding latency in an account without policy sets,
one with one policy set and one with five (each set one Rego policy over the binding, its role and
its resource group, none of which denies), on one authz server and the stack's OPA. The three
accounts' calls are interleaved, so that every series sees the same moments of a noisy machine.
The five sets cost one OPA round trip (one query for every package), beside one indexed lookup
of the sets that any write pays."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time

import grpc
from pydantic import SecretStr
from rich.console import Console

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from authz.v1 import governance_pb2 as gpb
from authz.v1 import governance_pb2_grpc as gpb_grpc
from bench.authz_client import admin_channel
from bench.endpoints import endpoints, fresh_database
from bench.report import Latency, latency_table
from services.authz.server import running_server
from services.authz.settings import AuthzSettings

WARM_UP = 30

# Five policies over role bindings, as an administrator might write them; the benchmark's
# bindings (a user, a viewer role, the account's resources) pass all of them.
POLICIES = {
    "no-service-account-admin": """package p
deny contains "no service account may be an admin" if {
	input.after.principal.type == "SERVICE_ACCOUNT"
	endswith(input.role.identifier, "admin")
}""",
    "production-bindings": """package p
deny contains "production needs a narrower resource group" if {
	startswith(input.scope.project, "prod")
	input.resource_group.include_all_resources
}""",
    "no-registry": """package p
deny contains "nobody is bound to the permission registry" if {
	"core_permission_manage" in input.role.permissions
}""",
    "robots-do-not-delegate": """package p
deny contains "service accounts may not manage bindings" if {
	input.after.principal.type == "SERVICE_ACCOUNT"
	"core_rolebinding_manage" in input.role.permissions
}""",
    "account-admins-are-people": """package p
deny contains msg if {
	input.scope.level == "account"
	input.resource_group.include_child_scopes
	input.after.principal.type != "USER"
	msg := sprintf("%s: only users administer the whole account", [input.after.identifier])
}""",
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench governance")
    parser.add_argument("--samples", type=int, default=1000, help="writes per series")
    return parser.parse_args(argv)


async def governed_account(channel: grpc.aio.Channel, account: str, sets: int) -> None:
    stub = gpb_grpc.GovernanceServiceStub(channel)
    for name, rego in list(POLICIES.items())[:sets]:
        await stub.CreateGovernancePolicy(
            gpb.CreateGovernancePolicyRequest(
                policy=gpb.GovernancePolicy(scope=account, identifier=name, rego=rego)
            )
        )
        await stub.CreatePolicySet(
            gpb.CreatePolicySetRequest(
                policy_set=gpb.PolicySet(
                    scope=account,
                    identifier=name,
                    entity_types=["role_binding"],
                    events=[gpb.GOVERNANCE_EVENT_ON_SAVE],
                    severity=gpb.SEVERITY_ERROR,
                    enabled=True,
                    policies=[gpb.PolicyRef(scope=account, identifier=name)],
                )
            )
        )


async def main(argv: list[str]) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(width=max(Console().width, 132))
    where = endpoints()
    if not where.opa_url:
        raise SystemExit("no OPA: run scripts/stack up (it prints OPA_URL)")
    accounts = {"none": 0, "one": 1, "five": 5}
    console.print(
        f"governance benchmark: {args.samples} CreateRoleBinding calls per series after"
        f" {WARM_UP} warm-up calls, interleaved; OPA {where.opa_url};"
        f" python {platform.python_version()}; load average {os.getloadavg()[0]:.1f}"
    )
    async with fresh_database(where.database_url) as database_url:
        settings = AuthzSettings(
            database_url=SecretStr(database_url),
            port=0,
            shutdown_grace_s=2.0,
            run_relay=False,
            opa_url=where.opa_url,
        )
        samples: dict[str, list[float]] = {name: [] for name in accounts}
        async with running_server(settings) as server:
            channels = {name: await admin_channel(server, f"g{name}") for name in accounts}
            try:
                stubs = {}
                for name, sets in accounts.items():
                    await governed_account(channels[name], f"g{name}", sets)
                    users = pb_grpc.UserServiceStub(channels[name])
                    await users.CreateUser(
                        pb.CreateUserRequest(user=pb.User(account=f"g{name}", identifier="alice"))
                    )
                    stubs[name] = pb_grpc.RoleBindingServiceStub(channels[name])
                for i in range(WARM_UP + args.samples):
                    for name in accounts:
                        binding = pb.RoleBinding(
                            scope=f"g{name}",
                            identifier=f"b{i}",
                            principal=pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier="alice"),
                            role="_account_viewer",
                            resource_group="_all_account_level_resources",
                        )
                        start = time.perf_counter()
                        await stubs[name].CreateRoleBinding(
                            pb.CreateRoleBindingRequest(role_binding=binding)
                        )
                        if i >= WARM_UP:
                            samples[name].append(time.perf_counter() - start)
            finally:
                for channel in channels.values():
                    await channel.close(None)
    rows = {
        name: Latency(f"CreateRoleBinding, {label}", samples[name], args.samples)
        for name, label in (
            ("none", "no policy set"),
            ("one", "1 policy set"),
            ("five", "5 policy sets"),
        )
    }
    console.print(
        latency_table(
            "write latency (ms), beside the account without policy sets",
            [(rows["none"], None), (rows["one"], rows["none"]), (rows["five"], rows["none"])],
        )
    )
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    for name in ("one", "five"):
        added = {q: (rows[name].quantile(q) - rows["none"].quantile(q)) * 1000 for q in (50, 99)}
        console.print(
            f"added by {rows[name].what.split(', ')[1]}: p50 {added[50]:+.2f} ms,"
            f" p99 {added[99]:+.2f} ms" + (" (target: p99 < 5 ms)" if name == "five" else "")
        )

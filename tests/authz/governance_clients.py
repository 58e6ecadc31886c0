"""Governance in tests: the README's example policies, a GovernanceService client beside the
authz clients, and helpers that make policies and policy sets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from audit.v1 import event_pb2 as ev
from authz.v1 import governance_pb2 as gpb
from authz.v1 import governance_pb2_grpc as gpb_grpc
from services.authz.server import RunningServer, running_server
from tests.authz.clients import Authz, admin_token, connect, settings_for
from tests.harness.endpoints import ROOT
from tests.security.attackers import outbox_events


def readme_example(name: str) -> str:
    """The Rego of an example in README.md ("# example: NAME" on its first line)."""
    blocks = re.findall(r"```rego\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    found = [b for b in blocks if b.startswith(f"# example: {name}\n")]
    assert len(found) == 1, f"README has no single example {name!r}"
    return str(found[0])


@dataclass
class Gov:
    authz: Authz
    stub: gpb_grpc.GovernanceServiceAsyncStub

    async def policy(self, scope: str, identifier: str, rego: str) -> gpb.GovernancePolicyResponse:
        return await self.stub.CreateGovernancePolicy(
            gpb.CreateGovernancePolicyRequest(
                policy=gpb.GovernancePolicy(scope=scope, identifier=identifier, rego=rego)
            )
        )

    async def policy_set(
        self,
        scope: str,
        identifier: str,
        policies: list[tuple[str, str]],
        entity_types: list[str],
        severity: int = gpb.SEVERITY_ERROR,
        failure_mode: int = gpb.FAILURE_MODE_UNSPECIFIED,
        events: tuple[int, ...] = (gpb.GOVERNANCE_EVENT_ON_SAVE,),
        enabled: bool = True,
    ) -> gpb.PolicySetResponse:
        return await self.stub.CreatePolicySet(
            gpb.CreatePolicySetRequest(
                policy_set=gpb.PolicySet(
                    scope=scope,
                    identifier=identifier,
                    entity_types=entity_types,
                    events=list(events),  # type: ignore[arg-type]
                    severity=severity,  # type: ignore[arg-type]
                    failure_mode=failure_mode,  # type: ignore[arg-type]
                    enabled=enabled,
                    policies=[gpb.PolicyRef(scope=s, identifier=i) for s, i in policies],
                )
            )
        )

    async def example_set(
        self,
        scope: str,
        example: str,
        entity_types: list[str],
        severity: int = gpb.SEVERITY_ERROR,
        failure_mode: int = gpb.FAILURE_MODE_UNSPECIFIED,
    ) -> gpb.PolicySetResponse:
        """The README example as a policy of `scope` and a policy set of the same name."""
        await self.policy(scope, example, readme_example(example))
        return await self.policy_set(
            scope, example, [(scope, example)], entity_types, severity, failure_mode
        )


@asynccontextmanager
async def governed(database_url: str, opa_url: str, account: str = "a") -> AsyncIterator[Gov]:
    """An authz server using this OPA, and a client of the account's administrator."""
    async with running_server(settings_for(database_url, opa_url=opa_url)) as server:
        gov = await client_of(server, account)
        try:
            yield gov
        finally:
            await gov.authz.channel.close(None)


async def client_of(server: RunningServer, account: str = "a", token: str | None = None) -> Gov:
    authz = await connect(server, token or await admin_token(server, account))
    return Gov(authz, gpb_grpc.GovernanceServiceStub(authz.channel))


async def events_of(database_url: str, action: int) -> list[ev.AuditEvent]:
    return [e for e in await outbox_events(database_url) if e.action == action]

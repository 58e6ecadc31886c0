"""GovernanceService (governance.proto): policies and policy sets through the management
commands (Crud, as every entity), and the Evaluate dry run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import grpc

from authz.v1 import governance_pb2 as pb
from authz.v1 import governance_pb2_grpc as pb_grpc
from libs.runtime.call_origin import Network
from services.authz.authentication import Authenticator
from services.authz.governance.dry_run import DryRun
from services.authz.grpc_api import governance_converters as conv
from services.authz.grpc_api.call_info import call_info
from services.authz.grpc_api.errors import AUTHZ_ERRORS, authentication
from services.authz.grpc_api.management_servicers import Crud, Resource
from services.authz.management import Management

RESOURCES = [
    Resource("governance_policy", "GovernancePolicy", "policy", conv.policy_from,
             conv.policy_to, pb.GovernancePolicyResponse, pb.ListGovernancePoliciesResponse,
             plural_noun="GovernancePolicies", plural_field="policies"),
    Resource("policy_set", "PolicySet", "policy_set", conv.policy_set_from, conv.policy_set_to,
             pb.PolicySetResponse, pb.ListPolicySetsResponse),
]  # fmt: skip
SERVICE = pb.DESCRIPTOR.services_by_name["GovernanceService"]


class Evaluate:
    def __init__(self, dry_run: DryRun) -> None:
        self.dry_run = dry_run

    async def Evaluate(
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.EvaluateResponse:
        review = await self.dry_run(
            request.entity_type,
            conv.event_name(request.event, "event"),
            request.scope,
            request.before_json,
            request.after_json,
            call_info(context),
        )
        return pb.EvaluateResponse(
            decision=review.decision,
            policy_sets=[conv.verdict_to(v) for v in review.verdicts],
        )


def add_governance_service(
    server: grpc.aio.Server,
    management: Management,
    dry_run: DryRun,
    authenticator: Authenticator,
    trusted_proxies: tuple[Network, ...] = (),
) -> str:
    servicer: Any = SimpleNamespace(Evaluate=Evaluate(dry_run).Evaluate)
    for resource in RESOURCES:
        Crud(management, resource).bind(servicer)
    before = authentication(authenticator, trusted_proxies)
    wrapped = AUTHZ_ERRORS.guard_servicer(servicer, SERVICE, before)
    pb_grpc.add_GovernanceServiceServicer_to_server(wrapped, server)
    return SERVICE.full_name

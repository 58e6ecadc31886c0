"""Governance against a real OPA and the real database: the README's example policies, warning
severity, scope inheritance, Rego refused at save, OPA stopped (both failure modes), a policy
changed on one replica applied by another, and the audit trail of every evaluation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import grpc
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from authz.v1 import governance_pb2 as gpb
from services.authz.domain import governance
from services.authz.server import running_server
from tests.authz.clients import bind, create_user, settings_for, user, user_token
from tests.authz.governance_clients import Gov, client_of, events_of, governed, readme_example
from tests.harness.services import own_opa
from tests.security.attackers import outbox_events

pytestmark = pytest.mark.integration

SA = pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT
CALL_TIMEOUT_S = 60  # a hung call fails the test with its name, not the whole run's timeout


def service_account(identifier: str, scope: str = "") -> pb.Principal:
    return pb.Principal(type=SA, identifier=identifier, scope=scope)


async def role(gov: Gov, scope: str, identifier: str, *permissions: str) -> pb.RoleResponse:
    return await gov.authz.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope=scope, identifier=identifier, permissions=permissions)
        ),
        timeout=CALL_TIMEOUT_S,
    )


async def refused(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await asyncio.wait_for(call, CALL_TIMEOUT_S)  # type: ignore[arg-type]
    assert raised.value.code() == code, raised.value.details()
    return raised.value.details() or ""


async def test_no_service_account_may_be_bound_to_an_admin_role(
    database_url: str, opa_url: str
) -> None:
    async with governed(database_url, opa_url) as gov:
        await gov.example_set("a", "no-service-account-admin", ["role_binding"])
        await gov.authz.service_accounts.CreateServiceAccount(
            pb.CreateServiceAccountRequest(
                service_account=pb.ServiceAccount(scope="a", identifier="ci")
            )
        )
        await create_user(gov.authz, "a", "alice")
        details = await refused(
            bind(gov.authz, "a", "b1", service_account("ci"), "_account_admin",
                 "_all_account_level_resources"),
            grpc.StatusCode.FAILED_PRECONDITION,
        )  # fmt: skip
        assert "policy set a/no-service-account-admin" in details
        assert "service account ci may not be bound to the admin role _account_admin" in details
        await refused(
            gov.authz.bindings.GetRoleBinding(pb.GetRequest(scope="a", identifier="b1")),
            grpc.StatusCode.NOT_FOUND,
        )
        # What the policy lets through: a viewer role for the service account, admin for a user.
        await bind(gov.authz, "a", "b1", service_account("ci"), "_account_viewer",
                   "_all_account_level_resources")  # fmt: skip
        await bind(gov.authz, "a", "b2", user("alice"), "_account_admin",
                   "_all_account_level_resources")  # fmt: skip

        # The refusal is audited (after the rollback), the allowed writes carry the evaluation.
        [violation] = await events_of(database_url, ev.ACTION_POLICY_VIOLATION)
        assert violation.resource.type == "ROLE_BINDING"
        assert violation.resource.identifier == "b1"
        assert violation.principal.identifier == "admin"
        labels = violation.resource.labels
        assert labels["governance"] == "deny"
        assert labels["governance_policy_sets"] == "a/no-service-account-admin=deny"
        assert "may not be bound to the admin role" in labels["governance_messages"]
        assert '"_account_admin"' in violation.new_state_json
        created = [
            e for e in await events_of(database_url, ev.ACTION_ROLE_ASSIGNMENT_CREATE)
            if e.resource.identifier != "admin-account-admin"  # the bootstrap's, before the set
        ]  # fmt: skip
        assert [e.resource.identifier for e in created] == ["b1", "b2"]
        assert all(e.resource.labels["governance"] == "allow" for e in created)


async def test_roles_may_not_combine_secret_access_with_pipeline_execute(
    database_url: str, opa_url: str
) -> None:
    async with governed(database_url, opa_url) as gov:
        await gov.example_set("a", "separation-of-duties", ["role"])
        details = await refused(
            role(gov, "a/o", "deployer", "core_secret_access", "core_pipeline_execute"),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        assert "role deployer may not hold both" in details
        made = await role(gov, "a/o", "deployer", "core_pipeline_execute", "core_pipeline_view")
        # An update that would combine them is refused too, and leaves the role as it was.
        combined = pb.Role(
            scope="a/o",
            identifier="deployer",
            permissions=["core_pipeline_execute", "core_secret_access"],
            etag=made.role.etag,
        )
        await refused(gov.authz.roles.UpdateRole(combined), grpc.StatusCode.FAILED_PRECONDITION)
        kept = await gov.authz.roles.GetRole(pb.GetRequest(scope="a/o", identifier="deployer"))
        assert list(kept.role.permissions) == ["core_pipeline_execute", "core_pipeline_view"]
        await role(gov, "a/o", "reader", "core_secret_access")


async def test_bindings_in_production_projects_need_a_narrower_resource_group(
    database_url: str, opa_url: str
) -> None:
    async with governed(database_url, opa_url) as gov:
        await gov.example_set("a", "production-bindings", ["role_binding"])
        await create_user(gov.authz, "a", "alice")
        details = await refused(
            bind(gov.authz, "a/o/prod1", "b", user("alice"), "_project_viewer",
                 "_all_project_level_resources"),
            grpc.StatusCode.FAILED_PRECONDITION,
        )  # fmt: skip
        assert "production project prod1 needs a resource group narrower" in details
        await gov.authz.resource_groups.CreateResourceGroup(
            pb.CreateResourceGroupRequest(
                resource_group=pb.ResourceGroup(
                    scope="a/o/prod1",
                    identifier="deploys",
                    resource_filters=[pb.ResourceFilter(resource_type="PIPELINE")],
                )
            )
        )
        await bind(gov.authz, "a/o/prod1", "b", user("alice"), "_project_viewer", "deploys")
        await bind(gov.authz, "a/o/dev1", "b", user("alice"), "_project_viewer",
                   "_all_project_level_resources")  # fmt: skip


async def test_api_keys_expire_within_90_days(database_url: str, opa_url: str) -> None:
    async with governed(database_url, opa_url) as gov:
        await gov.example_set("a", "api-key-expiry", ["api_key"])
        await gov.authz.service_accounts.CreateServiceAccount(
            pb.CreateServiceAccountRequest(
                service_account=pb.ServiceAccount(scope="a", identifier="ci")
            )
        )

        def key(identifier: str, days: int | None) -> pb.CreateApiKeyRequest:
            k = pb.ApiKey(scope="a", identifier=identifier, owner=service_account("ci"))
            if days is not None:
                k.expires_at.FromDatetime(datetime.now(UTC) + timedelta(days=days))
            return pb.CreateApiKeyRequest(api_key=k)

        never = await refused(
            gov.authz.api_keys.CreateApiKey(key("k1", None)), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert "API keys must have an expiry" in never
        late = await refused(
            gov.authz.api_keys.CreateApiKey(key("k1", 200)), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert "API keys must expire within 90 days" in late
        issued = await gov.authz.api_keys.CreateApiKey(key("k1", 30))
        assert issued.token
        # The token prefixes never reach a policy (nor its messages).
        for event in await events_of(database_url, ev.ACTION_POLICY_VIOLATION):
            assert "token_prefixes" not in event.resource.labels.get("governance_messages", "")


async def test_a_warning_records_and_allows(database_url: str, opa_url: str) -> None:
    async with governed(database_url, opa_url) as gov:
        await gov.example_set("a", "separation-of-duties", ["role"], gpb.SEVERITY_WARNING)
        await role(gov, "a", "both", "core_secret_access", "core_pipeline_execute")
        [created] = [
            e for e in await events_of(database_url, ev.ACTION_CREATE)
            if e.resource.type == "ROLE"
        ]  # fmt: skip
        assert created.resource.labels["governance"] == "warn"
        assert created.resource.labels["governance_policy_sets"] == "a/separation-of-duties=deny"
        assert "role both may not hold both" in created.resource.labels["governance_messages"]
        assert await events_of(database_url, ev.ACTION_POLICY_VIOLATION) == []


async def test_a_policy_set_applies_to_its_scope_and_below_only(
    database_url: str, opa_url: str
) -> None:
    async with governed(database_url, opa_url) as gov:
        await gov.policy("a", "sod", readme_example("separation-of-duties"))
        await gov.policy_set("a/o/p1", "sod", [("a", "sod")], ["role"])
        both = ("core_secret_access", "core_pipeline_execute")
        await refused(role(gov, "a/o/p1", "r", *both), grpc.StatusCode.FAILED_PRECONDITION)
        # Not above it, not in a sibling.
        await role(gov, "a/o", "r", *both)
        await role(gov, "a/o/p2", "r", *both)
        await role(gov, "a", "r", *both)
        # Nor in another account, whose administrator a's is not.
        await refused(
            gov.policy("acme_corp", "sod", readme_example("separation-of-duties")),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        # A look-alike account is another tenant: the set of acme_corp never governs acmeXcorp.
        acme = await client_of(gov.authz.server, "acme_corp")
        await acme.policy("acme_corp", "sod", readme_example("separation-of-duties"))
        await acme.policy_set("acme_corp", "sod", [("acme_corp", "sod")], ["role"])
        await refused(role(acme, "acme_corp/o", "r", *both), grpc.StatusCode.FAILED_PRECONDITION)
        other = await client_of(gov.authz.server, "acmeXcorp")
        await role(other, "acmeXcorp/o", "r", *both)
        # A disabled set governs nothing.
        current = await acme.stub.GetPolicySet(pb.GetRequest(scope="acme_corp", identifier="sod"))
        off = gpb.PolicySet()
        off.CopyFrom(current.policy_set)
        off.enabled = False
        await acme.stub.UpdatePolicySet(off)
        await role(acme, "acme_corp/o", "r2", *both)
        for client in (acme, other):
            await client.authz.channel.close(None)


async def test_rego_that_does_not_compile_is_refused_with_opas_message_and_line(
    database_url: str, opa_url: str
) -> None:
    async with governed(database_url, opa_url) as gov:
        syntax = "package x\n\ndeny contains msg if {\n  input.a ==\n}\n"
        details = await refused(gov.policy("a", "p", syntax), grpc.StatusCode.INVALID_ARGUMENT)
        assert details.startswith("policy.rego: rego_parse_error at line 5")
        typed = "package x\n\ndeny contains msg if {\n  msg := no_such_function(1)\n}\n"
        details = await refused(gov.policy("a", "p", typed), grpc.StatusCode.INVALID_ARGUMENT)
        assert "rego_type_error at line 4" in details
        assert "undefined function no_such_function" in details
        boolean = 'package x\n\ndeny if { input.after.name == "x" }\n'
        details = await refused(gov.policy("a", "p", boolean), grpc.StatusCode.INVALID_ARGUMENT)
        assert "deny contains msg if" in details
        no_package = 'deny contains "x" if { true }\n'
        details = await refused(gov.policy("a", "p", no_package), grpc.StatusCode.INVALID_ARGUMENT)
        assert "package declaration" in details
        await refused(
            gov.stub.GetGovernancePolicy(pb.GetRequest(scope="a", identifier="p")),
            grpc.StatusCode.NOT_FOUND,
        )


async def test_a_policy_reads_nothing_of_other_policies_or_the_network(
    database_url: str, opa_url: str
) -> None:
    async with governed(database_url, opa_url) as gov:
        await gov.policy("a", "victim", readme_example("separation-of-duties"))
        nosy = (
            "package nosy\n\ndeny contains msg if {\n"
            '  some k, v in data.governance\n  msg := sprintf("%v", [k])\n}\n'
        )
        details = await refused(gov.policy("a", "nosy", nosy), grpc.StatusCode.INVALID_ARGUMENT)
        assert "data.governance" in details
        leaky = (
            'package leaky\n\ndeny contains "x" if {\n'
            '  http.send({"method": "get", "url": "http://127.0.0.1:1/"})\n}\n'
        )
        details = await refused(gov.policy("a", "leaky", leaky), grpc.StatusCode.INVALID_ARGUMENT)
        assert "http.send" in details
        runtime = (
            'package r\n\ndeny contains msg if {\n  msg := sprintf("%v", [opa.runtime()])\n}\n'
        )
        await refused(gov.policy("a", "r", runtime), grpc.StatusCode.INVALID_ARGUMENT)
        # Its own helper rules are fine.
        helper = (
            "package ok\n\nheld contains p if { some p in input.after.permissions }\n\n"
            'deny contains "too many" if { count(held) > 3 }\n'
        )
        await gov.policy("a", "ok", helper)


async def test_governance_is_managed_like_any_entity_and_only_by_who_may(
    database_url: str, opa_url: str
) -> None:
    async with governed(database_url, opa_url) as gov:
        server = gov.authz.server
        await gov.example_set("a", "separation-of-duties", ["role"])
        # In use: the policy cannot be deleted; the set first.
        await refused(
            gov.stub.DeleteGovernancePolicy(
                pb.DeleteRequest(scope="a", identifier="separation-of-duties")
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        listed = await gov.stub.ListPolicySets(pb.ListRequest(scope="a"))
        assert [s.identifier for s in listed.policy_sets] == ["separation-of-duties"]
        assert listed.policy_sets[0].failure_mode == gpb.FAILURE_MODE_CLOSED  # error: closed
        policies = await gov.stub.ListGovernancePolicies(pb.ListRequest(scope="a"))
        assert [p.identifier for p in policies.policies] == ["separation-of-duties"]
        # A set naming a policy of another account (not an ancestor) is refused.
        other = await client_of(server, "b")
        await refused(
            other.policy_set("b", "s", [("a", "separation-of-duties")], ["role"]),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        # Another tenant's administrator reads nothing of a's governance.
        await refused(
            other.stub.GetGovernancePolicy(
                pb.GetRequest(scope="a", identifier="separation-of-duties")
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        # A user without the governance permissions may not write policies.
        await create_user(gov.authz, "a", "mallory")
        await bind(gov.authz, "a", "m", user("mallory"), "_account_viewer",
                   "_all_account_level_resources")  # fmt: skip
        mallory = await client_of(server, token=await user_token(server, "a", "mallory"))
        await mallory.stub.GetPolicySet(pb.GetRequest(scope="a", identifier="separation-of-duties"))
        await refused(
            mallory.policy("a", "p", readme_example("api-key-expiry")),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        await gov.stub.DeletePolicySet(
            pb.DeleteRequest(scope="a", identifier="separation-of-duties")
        )
        await gov.stub.DeleteGovernancePolicy(
            pb.DeleteRequest(scope="a", identifier="separation-of-duties")
        )
        deleted = await events_of(database_url, ev.ACTION_DELETE)
        assert {e.resource.type for e in deleted} == {"POLICY_SET", "GOVERNANCE_POLICY"}
        for channel in (other, mallory):
            await channel.authz.channel.close(None)


async def test_evaluate_is_a_dry_run(database_url: str, opa_url: str) -> None:
    async with governed(database_url, opa_url) as gov:
        await gov.example_set("a", "separation-of-duties", ["role"])
        before = len(await outbox_events(database_url))
        answer = await gov.stub.Evaluate(
            gpb.EvaluateRequest(
                entity_type="role",
                event=gpb.GOVERNANCE_EVENT_ON_SAVE,
                scope="a/o",
                after_json='{"scope": "a/o", "identifier": "r", "permissions":'
                ' ["core_secret_access", "core_pipeline_execute"]}',
            )
        )
        assert answer.decision == "deny"
        [verdict] = answer.policy_sets
        assert (verdict.identifier, verdict.outcome) == ("separation-of-duties", "deny")
        assert "role r may not hold both" in verdict.messages[0]
        assert len(await outbox_events(database_url)) == before
        await refused(
            gov.authz.roles.GetRole(pb.GetRequest(scope="a/o", identifier="r")),
            grpc.StatusCode.NOT_FOUND,
        )
        # A scope of another tenant is asked of its own permission, not answered.
        await refused(
            gov.stub.Evaluate(
                gpb.EvaluateRequest(
                    entity_type="role",
                    event=gpb.GOVERNANCE_EVENT_ON_SAVE,
                    scope="b",
                    after_json='{"scope": "b", "identifier": "r", "permissions": []}',
                )
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )


async def test_opa_away_fails_closed_or_open_per_policy_set_and_is_refilled_when_back(
    database_url: str, tmp_path: Path
) -> None:
    with own_opa(tmp_path) as opa:
        async with governed(database_url, opa.url) as gov:
            await gov.example_set("a", "separation-of-duties", ["role"])  # error: closed
            await gov.policy("a", "sod-groups", readme_example("separation-of-duties"))
            await gov.policy_set(
                "a", "groups", [("a", "sod-groups")], ["user_group"],
                failure_mode=gpb.FAILURE_MODE_OPEN,
            )  # fmt: skip
            await role(gov, "a", "before", "core_pipeline_view")
            await asyncio.to_thread(opa.stop)  # the server (same event loop) keeps serving
            details = await refused(
                role(gov, "a", "during", "core_pipeline_view"), grpc.StatusCode.UNAVAILABLE
            )
            assert "a/separation-of-duties" in details
            await refused(
                gov.authz.roles.GetRole(pb.GetRequest(scope="a", identifier="during")),
                grpc.StatusCode.NOT_FOUND,
            )
            [unavailable] = await events_of(database_url, ev.ACTION_POLICY_UNAVAILABLE)
            assert unavailable.resource.labels["governance_policy_sets"] == (
                "a/separation-of-duties=unevaluated"
            )
            await gov.authz.groups.CreateUserGroup(
                pb.CreateUserGroupRequest(user_group=pb.UserGroup(scope="a", identifier="g"))
            )
            [group_created] = [
                e for e in await events_of(database_url, ev.ACTION_CREATE)
                if e.resource.type == "USER_GROUP"
            ]  # fmt: skip
            assert group_created.resource.labels["governance"] == "warn"
            assert group_created.resource.labels["governance_policy_sets"] == "a/groups=unevaluated"
            # Back, and empty: the policies come from the database again.
            await asyncio.to_thread(opa.start)
            await refused(
                role(gov, "a", "after", "core_secret_access", "core_pipeline_execute"),
                grpc.StatusCode.FAILED_PRECONDITION,
            )
            await role(gov, "a", "after", "core_pipeline_view")


async def test_a_policy_changed_on_one_replica_applies_on_another(
    database_url: str, opa_url: str
) -> None:
    settings = settings_for(database_url, opa_url=opa_url)
    async with running_server(settings) as one, running_server(settings) as two:
        first = await client_of(one)
        second = await client_of(two, token=first.authz.token)
        await first.example_set("a", "separation-of-duties", ["role"])
        await refused(
            role(second, "a", "r1", "core_secret_access", "core_pipeline_execute"),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        await role(second, "a", "r1", "core_secret_view")
        # Tightened on the first replica: the second applies the new version at once.
        current = await first.stub.GetGovernancePolicy(
            pb.GetRequest(scope="a", identifier="separation-of-duties")
        )
        tightened = (
            "package tight\n\ndeny contains msg if {\n"
            '  "core_secret_view" in input.after.permissions\n'
            '  msg := "nobody views secrets"\n}\n'
        )
        await first.stub.UpdateGovernancePolicy(
            gpb.GovernancePolicy(
                scope="a", identifier="separation-of-duties", rego=tightened,
                etag=current.policy.etag,
            )
        )  # fmt: skip
        details = await refused(
            role(second, "a", "r2", "core_secret_view"), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert "nobody views secrets" in details
        await role(second, "a", "r3", "core_secret_access", "core_pipeline_execute")
        for client in (first, second):
            await client.authz.channel.close(None)


async def test_a_started_server_fills_an_empty_opa_from_the_database(
    database_url: str, tmp_path: Path
) -> None:
    with own_opa(tmp_path) as opa:
        async with governed(database_url, opa.url) as gov:
            await gov.policy("a", "sod", readme_example("separation-of-duties"))
        await asyncio.to_thread(opa.stop)
        await asyncio.to_thread(opa.start)  # empty
        module = f"{opa.url}/v1/policies/{governance.module_id('a', 'sod')}"
        assert await status_of(module) == 404
        async with governed(database_url, opa.url):
            for _ in range(200):  # the refill runs beside serving
                if await status_of(module) == 200:
                    break
                await asyncio.sleep(0.05)
            assert await status_of(module) == 200


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


# Finding (red team): one slow policy made every set asked with it "unevaluated", so anyone who
# may add a policy set below a fail-open error set (a project's administrator) could switch the
# account's rule off for their project at will.
SLOW_REGO = (
    'package slow\n\ndeny contains "never" if {\n'
    "  spin := {1 | some i in numbers.range(1, 4000); some j in numbers.range(1, 4000)}\n"
    "  count(spin) > 5\n}\n"
)


async def test_a_slow_policy_does_not_switch_off_the_other_policy_sets(
    database_url: str, opa_url: str
) -> None:
    async with governed(database_url, opa_url) as gov:
        await gov.example_set(
            "a", "separation-of-duties", ["role"], failure_mode=gpb.FAILURE_MODE_OPEN
        )
        # The attacker's own set: a warning (fail-open) whose policy outlasts OPA's timeout.
        await gov.policy("a/o/p", "slow", SLOW_REGO)
        await gov.policy_set("a/o/p", "slow", [("a/o/p", "slow")], ["role"], gpb.SEVERITY_WARNING)
        both = ("core_secret_access", "core_pipeline_execute")
        details = await refused(
            role(gov, "a/o/p", "both", *both), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert "a/separation-of-duties" in details
        await refused(
            gov.authz.roles.GetRole(pb.GetRequest(scope="a/o/p", identifier="both")),
            grpc.StatusCode.NOT_FOUND,
        )
        [record] = await events_of(database_url, ev.ACTION_POLICY_VIOLATION)
        assert record.resource.labels["governance_policy_sets"] == (
            "a/separation-of-duties=deny,a/o/p/slow=unevaluated"
        )


@pytest.mark.parametrize("builtin", ["json.match_schema", "json.verify_schema"])
async def test_a_policy_may_not_fetch_urls_through_a_json_schema_ref(
    database_url: str, opa_url: str, builtin: str
) -> None:
    # Finding (red team): a schema's remote `$ref` makes OPA fetch any URL (built from input:
    # exfiltration, or a probe of the internal network) although http.send and net.* are refused.
    args = '{"a": 1}, schema' if builtin == "json.match_schema" else "schema"
    rego = (
        "package fetch\n\ndeny contains msg if {\n"
        '  schema := {"$ref": concat("", ["http://127.0.0.1:1/", input.after.name])}\n'
        f'  msg := sprintf("%v", [{builtin}({args})])\n}}\n'
    )
    async with governed(database_url, opa_url) as gov:
        details = await refused(gov.policy("a", "fetch", rego), grpc.StatusCode.INVALID_ARGUMENT)
        assert builtin in details

"""RBAC management and decisions through the installed command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.audit.query_fixtures import QueryApi
from tests.cli.runner import Cli

pytestmark = pytest.mark.integration


def as_admin(api: QueryApi, home: Path) -> Cli:
    return Cli(
        home,
        {
            "AUTHZ_AUDIT_TOKEN": api.authz.token,
            "AUTHZ_AUDIT_AUTHZ_ENDPOINT": f"127.0.0.1:{api.authz.server.port}",
            "AUTHZ_AUDIT_AUDIT_ENDPOINT": f"127.0.0.1:{api.port}",
        },
    )


async def test_roles_and_bindings_round_trip_and_decide(api: QueryApi, tmp_path: Path) -> None:
    cli = as_admin(api, tmp_path)
    ok = await cli("users", "create", "alice", "--email", "alice@example.com")
    assert ok.code == 0, ok.text

    created = await cli("roles", "create", "runner", "--scope", "a/o", "--name", "Runner",
                        "--permission", "core_pipeline_view", "-o", "json")  # fmt: skip
    assert created.code == 0, created.text
    role = json.loads(created.out)
    assert role["permissions"] == ["core_pipeline_view"]
    assert role["scope"] == "a/o"

    # update: flags over the current role, sent with the etag read.
    updated = await cli("roles", "update", "runner", "--scope", "a/o",
                        "--permission", "core_pipeline_view",
                        "--permission", "core_pipeline_execute")  # fmt: skip
    assert updated.code == 0, updated.text
    after = yaml.safe_load(updated.out)
    assert sorted(after["permissions"]) == ["core_pipeline_execute", "core_pipeline_view"]
    assert after["name"] == "Runner"
    assert after["etag"] != role["etag"]

    # a file carrying the etag it was read with: stale now, refused, nothing changed.
    stale = tmp_path / "stale.yaml"
    stale.write_text(yaml.safe_dump({**role, "name": "Overwritten"}))
    refused = await cli("roles", "update", "runner", "--scope", "a/o", "--file", str(stale))
    assert refused.code == 6, refused.text
    assert refused.err.startswith("error: ABORTED")
    got = await cli("roles", "get", "runner", "--scope", "a/o", "-o", "json")
    assert json.loads(got.out)["name"] == "Runner"

    binding = tmp_path / "binding.json"
    binding.write_text(json.dumps({"principal": {"type": "PRINCIPAL_TYPE_USER",
                                                 "identifier": "alice"},
                                   "role": "runner", "role_scope": "a/o",
                                   "resource_group": "_all_project_level_resources"}))  # fmt: skip
    bound = await cli("bindings", "create", "b1", "--scope", "a/o/p", "--file", str(binding))
    assert bound.code == 0, bound.text
    listed = await cli("bindings", "list", "--scope", "a/o/p", "-o", "json")
    assert [(b["identifier"], b["role"]) for b in json.loads(listed.out)] == [("b1", "runner")]

    def asks(permission: str, project: str) -> tuple[str, ...]:
        return (permission, "-t", "PIPELINE", "--id", "deploy", "-s", f"a/o/{project}",
                "-p", "alice")  # fmt: skip

    allowed = await cli("check", *asks("core_pipeline_execute", "p"))
    assert (allowed.code, allowed.out.split(":")[0]) == (0, "allowed"), allowed.text
    denied = await cli("check", *asks("core_pipeline_execute", "q"))
    assert (denied.code, denied.out.split(":")[0]) == (1, "denied"), denied.text

    explained = await cli("explain", *asks("core_pipeline_view", "p"))
    assert explained.code == 0, explained.text
    assert "binding a/o/p/b1" in explained.out
    assert "role a/o/runner" in explained.out
    assert "resource group _all_project_level_resources" in explained.out
    nothing = await cli("explain", *asks("core_pipeline_view", "q"))
    assert nothing.code == 1, nothing.text
    assert nothing.out.startswith("denied"), nothing.text
    assert "binding a/o/p/b1" not in nothing.out
    assert "covers a/o/q" in nothing.out

    held = await cli("permissions", "-s", "a/o/p", "-p", "alice", "-o", "json")
    assert {p["permission"] for p in json.loads(held.out)} == {
        "core_pipeline_view",
        "core_pipeline_execute",
    }

    disabled = await cli("bindings", "update", "b1", "--scope", "a/o/p", "--disabled")
    assert disabled.code == 0
    assert yaml.safe_load(disabled.out)["disabled"] is True
    assert (await cli("check", *asks("core_pipeline_execute", "p"))).code == 1

    invalid = await cli("roles", "create", "bad id", "--permission", "core_pipeline_view")
    assert invalid.code == 2, invalid.text
    assert invalid.err.startswith("error: INVALID_ARGUMENT")
    assert "identifier" in invalid.err
    unknown = await cli("roles", "create", "r2", "--permission", "core_nothing_here")
    assert unknown.code == 2, unknown.text
    assert "permission" in unknown.err, unknown.text

    assert (await cli("bindings", "delete", "b1", "--scope", "a/o/p")).code == 0
    assert (await cli("roles", "delete", "runner", "--scope", "a/o")).code == 0
    gone = await cli("roles", "get", "runner", "--scope", "a/o")
    assert gone.code == 3, gone.text
    assert gone.err.startswith("error: NOT_FOUND")


async def test_users_groups_service_accounts_resource_groups_and_api_keys(
    api: QueryApi, tmp_path: Path
) -> None:
    cli = as_admin(api, tmp_path)
    for user in ("bob", "dan"):
        assert (await cli("users", "create", user, "--display-name", user.title())).code == 0
    renamed = await cli("users", "update", "bob", "--email", "bob@corp.test", "-o", "json")
    assert json.loads(renamed.out)["email"] == "bob@corp.test", renamed.text
    users = await cli("users", "list", "-o", "csv")
    assert users.out.splitlines()[0] == "identifier,email,display_name"
    assert "bob,bob@corp.test,Bob" in users.out.splitlines()

    assert (await cli("groups", "create", "devs", "--name", "Devs", "--member", "bob")).code == 0
    added = await cli("groups", "add-member", "devs", "dan", "-o", "json")
    assert sorted(json.loads(added.out)["members"]) == ["bob", "dan"], added.text
    removed = await cli("groups", "remove-member", "devs", "bob", "-o", "json")
    assert json.loads(removed.out)["members"] == ["dan"]
    table = await cli("groups", "list")
    assert "devs" in table.out
    assert "Devs" in table.out
    assert (await cli("groups", "delete", "devs")).code == 0

    made = await cli("service-accounts", "create", "ci", "--scope", "a/o", "--name", "CI")
    assert made.code == 0, made.text
    sa = await cli("service-accounts", "get", "ci", "--scope", "a/o", "-o", "json")
    assert json.loads(sa.out)["name"] == "CI"

    spec = tmp_path / "rg.yaml"
    spec.write_text("name: Deploys\ninclude_child_scopes: true\n")
    rg = await cli("resource-groups", "create", "deploys", "--scope", "a/o", "--file", str(spec),
                   "--filter", "PIPELINE=deploy,build", "-o", "json")  # fmt: skip
    assert rg.code == 0, rg.text
    group = json.loads(rg.out)
    assert group["include_child_scopes"] is True
    assert group["resource_filters"] == [
        {"resource_type": "PIPELINE", "identifiers": ["build", "deploy"]}
    ]
    narrowed = await cli("resource-groups", "update", "deploys", "--scope", "a/o",
                         "--exclude-child-scopes", "-o", "json")  # fmt: skip
    assert "include_child_scopes" not in json.loads(narrowed.out), narrowed.text

    # An API key of the caller: the token is printed once, alone on stdout, and works.
    key = await cli("api-keys", "create", "--name", "laptop", "--identifier", "k1",
                    "--expires-in", "30d")  # fmt: skip
    assert key.code == 0, key.text
    token = key.out.strip()
    assert len(key.out.splitlines()) == 1
    assert token not in key.err
    assert "shown once" in key.err
    me = await cli("whoami", AUTHZ_AUDIT_TOKEN=token)
    assert "user admin" in me.out, me.text
    keys = await cli("api-keys", "list", "-o", "json")
    listed = {k["identifier"]: k for k in json.loads(keys.out)}
    assert listed["k1"]["name"] == "laptop"
    assert "expires_at" in listed["k1"]
    assert token not in keys.out

    rotated = await cli("api-keys", "rotate", "k1")
    assert rotated.code == 0, rotated.text
    new_token = rotated.out.strip()
    assert new_token != token
    assert (await cli("whoami", AUTHZ_AUDIT_TOKEN=token)).code == 4
    assert (await cli("api-keys", "revoke", "k1")).code == 0
    revoked = await cli("whoami", AUTHZ_AUDIT_TOKEN=new_token)
    assert revoked.code == 4, revoked.text
    assert revoked.err.startswith("error: UNAUTHENTICATED"), revoked.text
    assert new_token not in revoked.text

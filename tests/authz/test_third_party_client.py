"""grpcurl, a gRPC client nobody here wrote, drives the service through reflection alone."""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import pytest

from tests.authz.clients import Authz
from tests.harness.endpoints import ROOT

pytestmark = pytest.mark.integration


def grpcurl_path() -> str:
    local = ROOT / ".stack/bin/grpcurl"
    found = str(local) if local.exists() else shutil.which("grpcurl")
    if found is None:
        message = "grpcurl is not installed (make tools)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


async def grpcurl(authz: Authz, method: str, body: dict[str, object] | None = None) -> str:
    args = ["-plaintext", "-H", f"authorization: Bearer {authz.token}"]
    if body is not None:
        args += ["-d", json.dumps(body)]
    process = await asyncio.create_subprocess_exec(
        grpcurl_path(), *args, f"127.0.0.1:{authz.server.port}", *method.split(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_grpcurl_lists_checks_health_binds_and_checks(authz: Authz) -> None:
    services = (await grpcurl(authz, "list")).split()
    assert "authz.v1.AccessService" in services
    assert "grpc.health.v1.Health" in services
    health = json.loads(await grpcurl(authz, "grpc.health.v1.Health/Check"))
    assert health["status"] == "SERVING"

    await grpcurl(
        authz,
        "authz.v1.UserService/CreateUser",
        {"user": {"account": "a", "identifier": "alice"}},
    )
    binding = {
        "scope": "a/o/p",
        "identifier": "b1",
        "principal": {"type": "PRINCIPAL_TYPE_USER", "identifier": "alice"},
        "role": "_project_viewer",
        "resource_group": "_all_project_level_resources",
    }
    created = json.loads(
        await grpcurl(
            authz, "authz.v1.RoleBindingService/CreateRoleBinding", {"role_binding": binding}
        )
    )
    check = {
        "principal": {"type": "PRINCIPAL_TYPE_USER", "identifier": "alice"},
        "resource_scope": "a/o/p",
        "resource_type": "PIPELINE",
        "resource_identifier": "x",
        "permission": "core_pipeline_view",
        "at_least_revision": created["revision"],
    }
    answer = json.loads(await grpcurl(authz, "authz.v1.AccessService/Check", check))
    assert answer["allowed"] is True
    check["permission"] = "core_pipeline_execute"
    denied = json.loads(await grpcurl(authz, "authz.v1.AccessService/Check", check))
    assert "allowed" not in denied  # proto3 JSON leaves false out

"""login | whoami | logout through the installed command, and how failures are told."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.audit.query_fixtures import QueryApi
from tests.authz.clients import create_user, user_token
from tests.cli.runner import Cli, config_path
from tests.harness.services import free_port

pytestmark = pytest.mark.integration


def endpoints(api: QueryApi) -> list[str]:
    return ["--authz", f"127.0.0.1:{api.authz.server.port}", "--audit", f"127.0.0.1:{api.port}"]


async def test_login_keeps_the_token_for_the_user_only_and_never_prints_it(
    api: QueryApi, tmp_path: Path
) -> None:
    cli = Cli(tmp_path)
    token = api.authz.token

    refused = await cli("login", *endpoints(api), "--token-stdin", stdin="not-a-token\n")
    assert refused.code == 4, refused.text
    assert "UNAUTHENTICATED" in refused.err
    assert "not-a-token" not in refused.text
    assert not config_path(cli).exists()

    logged_in = await cli("login", *endpoints(api), "--token-stdin", stdin=f"{token}\n")
    assert logged_in.code == 0, logged_in.text
    assert token not in logged_in.text
    assert "user admin" in logged_in.err
    path = config_path(cli)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["token"] == token
    assert stored["account"] == "a"
    assert stored["audit_endpoint"] == f"127.0.0.1:{api.port}"

    me = await cli("whoami")
    assert me.code == 0, me.text
    assert "user admin" in me.out
    assert " in a" in me.out
    assert token not in me.text

    # A token in the environment wins over the file: a user of account a with no binding.
    await create_user(api.authz, "a", "carol")
    carol = await user_token(api.authz.server, "a", "carol")
    as_carol = await cli("whoami", AUTHZ_AUDIT_TOKEN=carol)
    assert "user carol" in as_carol.out, as_carol.text
    denied = await cli("roles", "create", "r1", "--permission", "core_pipeline_view",
                       AUTHZ_AUDIT_TOKEN=carol)  # fmt: skip
    assert denied.code == 4, denied.text
    assert denied.err.startswith("error: PERMISSION_DENIED")
    assert carol not in denied.text
    assert token not in denied.text

    out = await cli("logout")
    assert out.code == 0
    assert not path.exists()
    after = await cli("whoami")
    assert after.code == 4
    assert "not logged in" in after.err


async def test_an_unreachable_service_is_unavailable_exit_5(api: QueryApi, tmp_path: Path) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    cli = Cli(tmp_path, {"AUTHZ_AUDIT_TOKEN": api.authz.token, "AUTHZ_AUDIT_ACCOUNT": "a"})
    result = await cli("roles", "list", AUTHZ_AUDIT_AUTHZ_ENDPOINT=nowhere)
    assert result.code == 5, result.text
    assert result.err.startswith("error: UNAVAILABLE")
    assert nowhere in result.err
    assert api.authz.token not in result.text
    audit = await cli("audit", "search", AUTHZ_AUDIT_AUDIT_ENDPOINT=nowhere)
    assert audit.code == 5, audit.text
    assert nowhere in audit.err

"""The pure parts of the command line (no services): durations, moments, resource filters,
actions, the event filter the options make, the config file, and a help text with an example on
every command."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from services.cli.app import app
from services.cli.audit_filters import Filters, action
from services.cli.config import CliSettings, Profile, config_file, effective, save
from services.cli.entity_fields import resource_filter
from services.cli.failures import USAGE, Failure
from services.cli.timespec import duration, moment, time_range
from tests.cli.runner import EXECUTABLE

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@given(st.integers(0, 9_999_999), st.sampled_from(sorted(UNITS)))
def test_every_duration_reads_as_its_seconds(amount: int, unit: str) -> None:
    assert duration(f"{amount}{unit}", "--since") == timedelta(seconds=amount * UNITS[unit])


@given(st.text(max_size=12).filter(lambda t: not t.strip().rstrip("smhdw").strip().isdigit()))
def test_anything_else_is_a_usage_error_naming_the_flag(text: str) -> None:
    with pytest.raises(Failure) as info:
        duration(text, "--since")
    assert info.value.exit_code == USAGE
    assert str(info.value).startswith("--since:")


def test_moments_without_a_zone_are_utc_and_ranges_are_checked() -> None:
    assert moment("2026-05-01", "--from") == datetime(2026, 5, 1, tzinfo=UTC)
    assert moment("2026-05-01T10:00:00+02:00", "--from") == datetime(2026, 5, 1, 8, tzinfo=UTC)
    assert moment("2026-05-01T10:00:00Z", "--to") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert time_range(None, None, None, NOW) is None
    start, end = time_range("7d", None, None, NOW) or (NOW, NOW)
    assert (NOW - start, end > NOW) == (timedelta(days=7), True)
    for since, begin, finish, flag in (
        ("7d", "2026-01-01", None, "--since"),
        (None, None, "2026-01-01", "--to"),
        (None, "2026-05-02", "2026-05-01", "--to"),
        (None, "yesterday", None, "--from"),
    ):
        with pytest.raises(Failure, match=f"^{flag}"):
            time_range(since, begin, finish, NOW)


@given(
    st.from_regex(r"[A-Z_]{1,12}", fullmatch=True),
    st.lists(st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True), max_size=4),
)
def test_resource_filters_read_back(kind: str, names: list[str]) -> None:
    text = f"{kind}={','.join(names)}" if names else kind
    assert resource_filter(text) == {"resource_type": kind, "identifiers": names}


def test_actions_by_any_spelling_and_unknown_ones_refused() -> None:
    assert action("update") == action("ACTION_UPDATE") == ev.ACTION_UPDATE
    assert action("role-assignment-create") == ev.ACTION_ROLE_ASSIGNMENT_CREATE
    for wrong in ("unspecified", "explode", ""):
        with pytest.raises(Failure, match="--action"):
            action(wrong)


def test_the_options_make_the_api_filter() -> None:
    values = {"user": ["alice"], "principal": ["ci"], "action": ["delete"], "scope": ["a/o"],
              "exclude_child_scopes": True, "resource_type": ["ROLE"], "network": ["10.0.0.0/8"],
              "text": "run", "since": "1d"}  # fmt: skip
    f = Filters(values).message("acct", NOW)
    assert [(p.type, p.identifier) for p in f.principals] == [
        (ev.PRINCIPAL_TYPE_USER, "alice"),
        (ev.PRINCIPAL_TYPE_UNSPECIFIED, "ci"),
    ]
    assert list(f.actions) == [ev.ACTION_DELETE]
    assert [(s.scope, s.exclude_child_scopes) for s in f.scopes] == [("a/o", True)]
    assert (list(f.resource_types), list(f.client_networks), f.text) == (
        ["ROLE"], ["10.0.0.0/8"], "run"
    )  # fmt: skip
    assert f.start.ToDatetime(tzinfo=UTC) == NOW - timedelta(days=1)
    # No scope given: the account; a saved filter: nothing, so the saved one's fields stay.
    assert [s.scope for s in Filters({}).message("acct", NOW).scopes] == ["acct"]
    assert list(Filters({"saved": "x"}).message("acct", NOW).scopes) == []
    kept = Filters({"since": "30d"}).message("acct", NOW, keep_since=True)
    assert (kept.preset, kept.HasField("start")) == (q.TIME_PRESET_LAST_30_DAYS, False)
    with pytest.raises(Failure, match="--since"):
        Filters({"since": "5d"}).message("acct", NOW, keep_since=True)
    for clash in ({"since": "7d", "preset": "7d"}, {"start": "2026-01-01", "preset": "7d"}):
        for keep in (True, False):
            with pytest.raises(Failure, match="--preset"):
                Filters(clash).message("acct", NOW, keep_since=keep)


def test_the_config_file_is_created_private_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("AUTHZ_AUDIT_TOKEN", "AUTHZ_AUDIT_AUTHZ_ENDPOINT", "AUTHZ_AUDIT_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        path = save(CliSettings(), Profile(token="secret-token", account="acme"))
    finally:
        os.umask(old_umask)
    assert path == tmp_path / "xdg" / "authz-audit" / "config.json" == config_file(CliSettings())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["token"] == "secret-token"
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temporary left
    assert "secret-token" not in repr(effective(CliSettings()))
    monkeypatch.setenv("AUTHZ_AUDIT_TOKEN", "from-env")
    monkeypatch.setenv("AUTHZ_AUDIT_AUTHZ_ENDPOINT", "h:1")
    profile = effective(CliSettings())
    assert (profile.token, profile.authz_endpoint, profile.account) == ("from-env", "h:1", "acme")


def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf command's path (typer's groups are not click's: read their `commands`)."""
    if hasattr(group, "commands"):
        return [c for name, sub in group.commands.items() for c in commands(sub, (*path, name))]
    return [path]


def test_every_command_has_help_with_an_example() -> None:
    root = typer.main.get_command(app)
    found = commands(root)
    assert len(found) >= 50  # 6 kinds x 5, members, keys, audit, filters, decisions, login
    for path in found:
        command: Any = root
        for name in path:
            command = command.commands[name]
        assert "Example: authz-audit" in (command.help or ""), path


def test_the_installed_command_offers_shell_completion() -> None:
    if not EXECUTABLE.exists():
        pytest.fail(f"{EXECUTABLE} is not installed: run make install")
    shown = subprocess.run(
        [str(EXECUTABLE), "--show-completion", "bash"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert "_AUTHZ_AUDIT_COMPLETE" in shown.stdout

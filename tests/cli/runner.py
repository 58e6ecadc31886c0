"""Running the installed `authz-audit` as a person would: a subprocess with a home of its own
(HOME and XDG_CONFIG_HOME in a temporary directory), awaited so that the servers of the test,
which run on the test's event loop, keep answering."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness.endpoints import ROOT

EXECUTABLE = ROOT / ".venv" / "bin" / "authz-audit"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Cli:
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("AUTHZ_AUDIT_")}
        base.pop("FORCE_COLOR", None)
        return {
            **base,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "COLUMNS": "250",
            "NO_COLOR": "1",
            **self.env,
            **extra,
        }

    async def start(self, *args: str, **env: str) -> asyncio.subprocess.Process:
        if not EXECUTABLE.exists():
            pytest.fail(f"{EXECUTABLE} is not installed: run make install")
        return await asyncio.create_subprocess_exec(
            str(EXECUTABLE), *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.environment(env),
        )  # fmt: skip

    async def __call__(self, *args: str, stdin: str = "", **env: str) -> Result:
        process = await self.start(*args, **env)
        out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
        assert process.returncode is not None
        return Result(process.returncode, out.decode(), err.decode())


def config_path(cli: Cli) -> Path:
    return cli.home / "config" / "authz-audit" / "config.json"

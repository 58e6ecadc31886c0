"""`authz-audit`: the command line of the authz service and the audit trail (installed as a
console script by pyproject.toml)."""

from __future__ import annotations

import sys

import typer

from services.cli import (
    account_commands,
    api_key_commands,
    audit_commands,
    decision_commands,
    member_commands,
)
from services.cli.entity_commands import kind_apps
from services.cli.failures import EXIT_CODES_HELP, FAILED, Failure, scrub
from services.cli.output import err

app = typer.Typer(
    name="authz-audit",
    help="Manage RBAC, ask for decisions and read the audit trail of authz-audit.\n\n"
    "Start with: authz-audit login --authz HOST:50051 --audit HOST:50052",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    # A traceback with local variables could show the token: never print one.
    pretty_exceptions_enable=False,
)
account_commands.register(app)
decision_commands.register(app)
for command, (_kind, kind_app) in kind_apps().items():
    if command == "groups":
        member_commands.register(kind_app)
    app.add_typer(kind_app, name=command)
app.add_typer(api_key_commands.app, name="api-keys")
app.add_typer(audit_commands.app, name="audit")


def main() -> None:
    try:
        app()
    except Failure as failure:
        err.print(f"error: {failure}", markup=False, highlight=False)
        sys.exit(failure.exit_code)
    except Exception as error:  # a bug: say so without a traceback (it may hold the token)
        message = scrub(f"{type(error).__name__}: {error}", _token())
        err.print(f"error: unexpected failure: {message}", markup=False, highlight=False)
        sys.exit(FAILED)


def _token() -> str:
    from services.cli.config import CliSettings, effective

    try:
        return effective(CliSettings()).token
    except Exception:
        return ""

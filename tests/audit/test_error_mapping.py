"""The audit query API's error mapping, without a server or a database: each domain error's
status; a failed call to authz keeps its code (authz away is UNAVAILABLE, not INTERNAL), but
a token authz refuses is our UNAUTHENTICATED; transient database failures are UNAVAILABLE;
anything else INTERNAL."""

from __future__ import annotations

import inspect
from typing import Any

import asyncpg
import grpc
import pytest

from services.audit.access_control import AuthzClient
from services.audit.domain import errors
from services.audit.grpc_api.errors import AUDIT_ERRORS
from tests.runtime.fake_context import upstream_error

Code = grpc.StatusCode

# Written out here, not derived from the classes: DESIGN section 7's table.
EXPECTED = [
    (errors.InvalidArgument("page_size", "at most 1000"), Code.INVALID_ARGUMENT,
     "page_size: at most 1000"),
    (errors.NotFound("event e not found"), Code.NOT_FOUND, "event e not found"),
    (errors.AlreadyExists("name taken"), Code.ALREADY_EXISTS, "name taken"),
    (errors.PermissionDenied("no", scope="a"), Code.PERMISSION_DENIED, "no"),
    (errors.Unauthenticated(), Code.UNAUTHENTICATED, "missing or invalid credentials"),
    (errors.EtagMismatch("changed"), Code.ABORTED, "changed"),
    (errors.AuditError("odd"), Code.INTERNAL, "odd"),
]  # fmt: skip


@pytest.mark.parametrize(("error", "code", "message"), EXPECTED)
def test_each_domain_error_answers_its_status(
    error: errors.AuditError, code: grpc.StatusCode, message: str
) -> None:
    assert AUDIT_ERRORS.status_of(error) == (code, message)


def test_every_error_class_is_in_the_table_above() -> None:
    declared = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.AuditError)
    }
    assert declared == {type(error) for error, _, _ in EXPECTED}


class FailingAccess:
    """authz's AccessService stub, every call failing with one code."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code

    async def WhoAmI(self, *_: Any, **__: Any) -> Any:
        raise upstream_error(self.code, "failed to connect to 10.0.0.7:50051")


async def failure_reaching_authz(code: grpc.StatusCode) -> Exception:
    channel = grpc.aio.insecure_channel("127.0.0.1:9")  # never connected: the stub is replaced
    client = AuthzClient(channel)
    client.access = FailingAccess(code)  # type: ignore[assignment]
    try:
        await client.whoami("a-token")
    except Exception as exc:
        return exc
    finally:
        await channel.close(None)
    raise AssertionError("whoami did not fail")


@pytest.mark.parametrize(
    "code",
    [Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.RESOURCE_EXHAUSTED, Code.INTERNAL],
)
async def test_authz_failing_keeps_its_code(code: grpc.StatusCode) -> None:
    status, message = AUDIT_ERRORS.status_of(await failure_reaching_authz(code))
    assert status == code
    assert "10.0.0.7" not in message  # the upstream details stay in our log


async def test_a_token_authz_refuses_is_our_unauthenticated() -> None:
    failure = await failure_reaching_authz(Code.UNAUTHENTICATED)
    assert isinstance(failure, errors.Unauthenticated)
    assert AUDIT_ERRORS.status_of(failure) == (
        Code.UNAUTHENTICATED,
        "missing or invalid credentials",
    )


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.ConnectionDoesNotExistError("closed"),
        asyncpg.CannotConnectNowError("starting up"),
        asyncpg.InterfaceError("pool is closing"),
        ConnectionRefusedError(),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_database_failures_are_unavailable(failure: Exception) -> None:
    assert AUDIT_ERRORS.status_of(failure) == (Code.UNAVAILABLE, "the service is busy: retry")


@pytest.mark.parametrize("bug", [KeyError("k"), ValueError("v"), asyncpg.DataError("bad")])
def test_anything_else_is_internal_with_a_generic_message(bug: Exception) -> None:
    assert AUDIT_ERRORS.status_of(bug) == (Code.INTERNAL, "internal error")

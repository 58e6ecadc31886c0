"""authz's error mapping, without a server or a database: each domain error's status, the
database failures a retry may cure, an upstream code kept, anything else INTERNAL; and the
wrapper of every RPC (authentication first, then the handler, both behind the boundary)."""

from __future__ import annotations

import inspect
from typing import Any, cast

import asyncpg
import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from services.authz.authentication import Authenticator
from services.authz.domain import errors
from services.authz.domain.audit import Caller
from services.authz.grpc_api.call_info import CURRENT_CALLER
from services.authz.grpc_api.errors import AUTHZ_ERRORS, authenticated
from services.authz.store.connections import Connections
from tests.runtime.fake_context import FakeContext, context_of, upstream_error

Code = grpc.StatusCode

# Written out here, not derived from the classes: DESIGN section 7's table.
EXPECTED = [
    (errors.InvalidArgument("role.name", "too long"), Code.INVALID_ARGUMENT, "role.name: too long"),
    (errors.NotFound("role r not found"), Code.NOT_FOUND, "role r not found"),
    (errors.AlreadyExists("role r exists"), Code.ALREADY_EXISTS, "role r exists"),
    (errors.FailedPrecondition("in use"), Code.FAILED_PRECONDITION, "in use"),
    (errors.EtagMismatch("changed"), Code.ABORTED, "changed"),
    (errors.Unauthenticated(), Code.UNAUTHENTICATED, "missing or invalid credentials"),
    (errors.PermissionDenied("no"), Code.PERMISSION_DENIED, "no"),
    (errors.RevisionNotReached("later"), Code.DEADLINE_EXCEEDED, "later"),
    (errors.Unavailable("no connection"), Code.UNAVAILABLE, "no connection"),
    (errors.InvitationInvalid(), Code.UNAUTHENTICATED,
     "the invitation is invalid, expired, revoked or already used"),
    (errors.TooManyAttempts(), Code.RESOURCE_EXHAUSTED,
     "too many attempts from this address: retry in a minute"),
    (errors.AuthzError("odd"), Code.INTERNAL, "odd"),
]  # fmt: skip


@pytest.mark.parametrize(("error", "code", "message"), EXPECTED)
def test_each_domain_error_answers_its_status(
    error: errors.AuthzError, code: grpc.StatusCode, message: str
) -> None:
    assert AUTHZ_ERRORS.status_of(error) == (code, message)


def test_every_error_class_is_in_the_table_above() -> None:
    declared = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.AuthzError)
    }
    assert declared == {type(error) for error, _, _ in EXPECTED}


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.LockNotAvailableError("lock timeout"),
        asyncpg.SerializationError("could not serialize"),
        asyncpg.DeadlockDetectedError("deadlock"),
        asyncpg.TooManyConnectionsError("too many"),
        asyncpg.AdminShutdownError("terminating"),
        asyncpg.CannotConnectNowError("starting up"),
        asyncpg.ConnectionDoesNotExistError("closed"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InternalClientError("protocol"),
        ConnectionRefusedError(),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_database_failures_are_unavailable(failure: Exception) -> None:
    assert AUTHZ_ERRORS.status_of(failure) == (Code.UNAVAILABLE, "the service is busy: retry")


@pytest.mark.parametrize("code", [Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.NOT_FOUND])
def test_an_upstream_grpc_error_keeps_its_code(code: grpc.StatusCode) -> None:
    assert AUTHZ_ERRORS.status_of(upstream_error(code, "10.0.0.7:5432 refused"))[0] == code


@pytest.mark.parametrize(
    "bug", [KeyError("k"), ValueError("v"), asyncpg.UndefinedColumnError("no column")]
)
def test_anything_else_is_internal_with_a_generic_message(bug: Exception) -> None:
    assert AUTHZ_ERRORS.status_of(bug) == (Code.INTERNAL, "internal error")


class OneToken(Authenticator):
    """Knows one token; asks no database."""

    def __init__(self) -> None:
        super().__init__(Connections(cast(asyncpg.Pool, None)))

    async def authenticate(self, authorization: str) -> Caller:
        if authorization != "Bearer good":
            raise errors.Unauthenticated()
        return Caller("USER", "alice", "acct")


class WhoAmIOnly:
    def __init__(self) -> None:
        self.calls = 0

    async def WhoAmI(self, request: Any, context: Any) -> str:
        self.calls += 1
        if request == "boom":
            raise RuntimeError("a bug")
        return CURRENT_CALLER.get().identifier


def access_servicer() -> Any:
    servicer = WhoAmIOnly()
    for method in pb.DESCRIPTOR.services_by_name["AccessService"].methods:
        if method.name != "WhoAmI":
            setattr(servicer, method.name, servicer.WhoAmI)
    return authenticated(servicer, "AccessService", OneToken())


async def test_a_call_without_valid_credentials_never_reaches_its_handler() -> None:
    servicer = access_servicer()
    for metadata in [(), (("authorization", "Bearer bad"),)]:
        fake = FakeContext(metadata)
        with pytest.raises(grpc.aio.AbortError):
            await servicer.WhoAmI("me", context_of(fake))
        assert (fake.code, fake.details) == (Code.UNAUTHENTICATED, "missing or invalid credentials")
    assert servicer.calls == 0


async def test_an_authenticated_call_runs_with_its_caller_and_bugs_are_internal() -> None:
    servicer = access_servicer()
    good = (("authorization", "Bearer good"),)
    assert await servicer.WhoAmI("me", context_of(FakeContext(good))) == "alice"
    fake = FakeContext(good)
    with pytest.raises(grpc.aio.AbortError):
        await servicer.WhoAmI("boom", context_of(fake))
    assert (fake.code, fake.details) == (Code.INTERNAL, "internal error")


async def test_a_public_method_runs_without_a_token_as_anonymous_and_the_others_do_not() -> None:
    """`public` lets exactly the named methods through without a token (AcceptInvitation)."""
    from authz.v1 import invitations_pb2 as ipb

    class Invitations:
        async def AcceptInvitation(self, request: Any, context: Any) -> str:
            return CURRENT_CALLER.get().type

        async def ListInvitations(self, request: Any, context: Any) -> str:
            return CURRENT_CALLER.get().type

    servicer: Any = Invitations()
    for method in ipb.DESCRIPTOR.services_by_name["InvitationService"].methods:
        if method.name not in ("AcceptInvitation", "ListInvitations"):
            setattr(servicer, method.name, servicer.ListInvitations)
    guarded = authenticated(
        servicer,
        "InvitationService",
        OneToken(),
        proto_file=ipb.DESCRIPTOR,
        public=("AcceptInvitation",),
    )
    assert await guarded.AcceptInvitation("x", context_of(FakeContext())) == "ANONYMOUS"
    for name in ("ListInvitations", "InviteUser", "ResendInvitation", "RevokeInvitation"):
        fake = FakeContext()
        with pytest.raises(grpc.aio.AbortError):
            await getattr(guarded, name)("x", context_of(fake))
        assert fake.code == Code.UNAUTHENTICATED

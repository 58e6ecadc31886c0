"""The authz service's errors. One root; each class declares the gRPC status it answers, by
name (no gRPC import here): libs.runtime.error_boundary turns it into the code."""

from __future__ import annotations

from dataclasses import dataclass


class AuthzError(Exception):
    """Root of every error the service answers with on purpose."""

    # The name of the grpc.StatusCode this class answers; subclasses declare theirs. An error
    # of no declared kind is a bug: INTERNAL.
    status = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(AuthzError):
    status = "INVALID_ARGUMENT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(AuthzError):
    status = "NOT_FOUND"


class AlreadyExists(AuthzError):
    status = "ALREADY_EXISTS"


class FailedPrecondition(AuthzError):
    status = "FAILED_PRECONDITION"


class EtagMismatch(AuthzError):
    """The entity changed since the caller read it: nothing was written."""

    status = "ABORTED"


class Unauthenticated(AuthzError):
    """Missing, malformed, unknown, expired or revoked credentials: one answer for all."""

    status = "UNAUTHENTICATED"

    def __init__(self) -> None:
        super().__init__("missing or invalid credentials")


class InvitationInvalid(AuthzError):
    """An unknown, malformed, expired, revoked or used invitation secret: one answer for all."""

    status = "UNAUTHENTICATED"

    def __init__(self) -> None:
        super().__init__("the invitation is invalid, expired, revoked or already used")


class TooManyAttempts(AuthzError):
    status = "RESOURCE_EXHAUSTED"

    def __init__(self) -> None:
        super().__init__("too many attempts from this address: retry in a minute")


@dataclass(frozen=True)
class Denial:
    """What was refused, for the ACCESS_DENIED audit event."""

    permission: str
    scope: str
    kind: str
    resource_id: str = ""
    detail: str = ""


class PermissionDenied(AuthzError):
    status = "PERMISSION_DENIED"

    def __init__(self, message: str, denial: Denial | None = None) -> None:
        super().__init__(message)
        self.denial = denial


class RevisionNotReached(AuthzError):
    """at_least_revision is not visible yet in this replica."""

    status = "DEADLINE_EXCEEDED"


class Unavailable(AuthzError):
    """A dependency did not answer in time (no pooled connection, a lock, a statement): retry."""

    status = "UNAVAILABLE"

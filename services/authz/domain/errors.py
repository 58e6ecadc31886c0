"""The authz service's errors. One root; the gRPC layer maps each class to one status code."""

from __future__ import annotations

from dataclasses import dataclass


class AuthzError(Exception):
    """Root of every error the service answers with on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(AuthzError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(AuthzError):
    pass


class AlreadyExists(AuthzError):
    pass


class FailedPrecondition(AuthzError):
    pass


class EtagMismatch(AuthzError):
    """The entity changed since the caller read it: nothing was written."""


class Unauthenticated(AuthzError):
    """Missing, malformed, unknown, expired or revoked credentials: one answer for all."""

    def __init__(self) -> None:
        super().__init__("missing or invalid credentials")


@dataclass(frozen=True)
class Denial:
    """What was refused, for the ACCESS_DENIED audit event."""

    permission: str
    scope: str
    kind: str
    resource_id: str = ""
    detail: str = ""


class PermissionDenied(AuthzError):
    def __init__(self, message: str, denial: Denial | None = None) -> None:
        super().__init__(message)
        self.denial = denial


class RevisionNotReached(AuthzError):
    """at_least_revision is not visible yet in this replica."""


class Unavailable(AuthzError):
    """A dependency did not answer in time (no pooled connection, a lock, a statement): retry."""

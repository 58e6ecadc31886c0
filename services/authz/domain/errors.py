"""The authz service's errors. One root; the gRPC layer maps each class to one status code."""

from __future__ import annotations


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


class PermissionDenied(AuthzError):
    pass


class RevisionNotReached(AuthzError):
    """at_least_revision is not visible yet in this replica."""

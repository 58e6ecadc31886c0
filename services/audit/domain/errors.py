"""The audit query API's errors. One root; each class declares the gRPC status it answers, by
name (no gRPC import here): libs.runtime.error_boundary turns it into the code."""

from __future__ import annotations


class AuditError(Exception):
    # The name of the grpc.StatusCode this class answers; subclasses declare theirs. An error
    # of no declared kind is a bug: INTERNAL.
    status = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(AuditError):
    status = "INVALID_ARGUMENT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(AuditError):
    status = "NOT_FOUND"


class AlreadyExists(AuditError):
    status = "ALREADY_EXISTS"


class PermissionDenied(AuditError):
    """Refused; `scope` and `permission` say what was refused, for the denial's audit event."""

    status = "PERMISSION_DENIED"

    def __init__(self, message: str, scope: str = "", permission: str = "core_audit_view") -> None:
        super().__init__(message)
        self.scope = scope
        self.permission = permission


class Unauthenticated(AuditError):
    status = "UNAUTHENTICATED"

    def __init__(self) -> None:
        super().__init__("missing or invalid credentials")


class EtagMismatch(AuditError):
    status = "ABORTED"

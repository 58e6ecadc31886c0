"""The audit query API's errors: one root, mapped to gRPC codes in one place."""

from __future__ import annotations


class AuditError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(AuditError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(AuditError):
    pass


class AlreadyExists(AuditError):
    pass


class PermissionDenied(AuditError):
    """Refused; `scope` and `permission` say what was refused, for the denial's audit event."""

    def __init__(self, message: str, scope: str = "", permission: str = "core_audit_view") -> None:
        super().__init__(message)
        self.scope = scope
        self.permission = permission


class Unauthenticated(AuditError):
    def __init__(self) -> None:
        super().__init__("missing or invalid credentials")


class EtagMismatch(AuditError):
    pass


class Unavailable(AuditError):
    """A service this one depends on (authz) cannot answer now."""

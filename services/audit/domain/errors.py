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
    pass


class Unauthenticated(AuditError):
    def __init__(self) -> None:
        super().__init__("missing or invalid credentials")


class EtagMismatch(AuditError):
    pass

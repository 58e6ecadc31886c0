"""SCIM error documents (RFC 7644 section 3.12) for everything a request can fail with: the
authz domain errors of the management commands, scim2-models' own exceptions and validation
errors, and the HTTP layer's (body too large, not JSON)."""

from __future__ import annotations

from typing import Any

import grpc
import scim2_models as scim
from pydantic import ValidationError

from libs.runtime.error_boundary import ErrorBoundary
from services.authz.domain import errors as authz

# The project's one mapping (libs/runtime/error_boundary.py) names the gRPC status of every
# failure (domain errors, transient database errors, bugs); SCIM answers it as HTTP.
_BOUNDARY = ErrorBoundary(authz.AuthzError)
_HTTP: dict[grpc.StatusCode, tuple[int, str | None]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalidValue"),
    grpc.StatusCode.NOT_FOUND: (404, None),
    grpc.StatusCode.ALREADY_EXISTS: (409, "uniqueness"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, None),
    grpc.StatusCode.ABORTED: (412, None),  # an etag that no longer matches
    grpc.StatusCode.UNAUTHENTICATED: (401, None),
    grpc.StatusCode.PERMISSION_DENIED: (403, None),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, None),
    grpc.StatusCode.UNAVAILABLE: (503, None),
    grpc.StatusCode.DEADLINE_EXCEEDED: (503, None),
}


class ScimError(Exception):
    """An answer with a SCIM error document."""

    def __init__(self, error: scim.Error) -> None:
        super().__init__(error.detail)
        self.error = error


def error(status: int, detail: str, scim_type: str | None = None) -> ScimError:
    return ScimError(scim.Error(status=status, scim_type=scim_type, detail=detail))


def error_of(exc: BaseException) -> scim.Error:
    """The SCIM error document of any exception (unknown ones: 500, logged, no detail)."""
    if isinstance(exc, ScimError):
        return exc.error
    if isinstance(exc, scim.SCIMException):
        return exc.to_error()
    if isinstance(exc, ValidationError):
        found = scim.Error.from_validation_errors(exc.errors())
        if found:
            return found[0]
        return scim.Error(status=400, scim_type="invalidSyntax", detail="invalid document")
    code, message = _BOUNDARY.status_of(exc if isinstance(exc, Exception) else Exception(), "scim")
    status, scim_type = _HTTP.get(code, (500, None))
    return scim.Error(status=status, scim_type=scim_type, detail=message)


def document(err: scim.Error) -> dict[str, Any]:
    body = err.model_dump(scim_ctx=scim.Context.DEFAULT)
    body["status"] = str(err.status)  # RFC 7644: the status is a string in the document
    return body

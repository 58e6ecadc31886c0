"""The audit query API's errors leave through the shared boundary (libs.runtime.error_boundary):
an AuditError answers the status its class declares, a failed call to authz keeps its code
(authz unreachable stays UNAVAILABLE), a transient database failure is UNAVAILABLE, anything
else INTERNAL."""

from __future__ import annotations

from libs.runtime.error_boundary import ErrorBoundary
from services.audit.domain.errors import AuditError

AUDIT_ERRORS = ErrorBoundary(AuditError)

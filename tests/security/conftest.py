"""The attacker suite runs against the real services: the authz server, and the audit query API
(with the authz server behind it) from the audit tests' harness."""

from tests.audit.query_fixtures import api
from tests.authz.conftest import authz

__all__ = ["api", "authz"]

"""The attacker suite runs against the real services: the audit query API (and the authz server
behind it) from the audit tests' harness."""

from tests.audit.query_fixtures import api

__all__ = ["api"]

from tests.audit.query_fixtures import api

__all__ = ["api"]

from tests.authz.conftest import authz

__all__ = ["authz"]

"""Every authz handler goes through here: the caller is authenticated (but for health and
reflection), and errors leave through the shared boundary (libs.runtime.error_boundary), which
answers each AuthzError with the status its class declares and a transient database failure
with UNAVAILABLE."""

from __future__ import annotations

from typing import TypeVar

from authz.v1 import authz_pb2 as pb
from libs.runtime.call_origin import Network, metadata_of
from libs.runtime.error_boundary import BeforeCall, Context, ErrorBoundary
from services.authz.authentication import Authenticator
from services.authz.domain.errors import AuthzError
from services.authz.grpc_api.call_info import (
    CURRENT_CALLER,
    TRUSTED_PROXIES,
)

AUTHZ_ERRORS = ErrorBoundary(AuthzError)
S = TypeVar("S")


def authentication(
    authenticator: Authenticator, trusted_proxies: tuple[Network, ...] = ()
) -> BeforeCall:
    """Run before every handler: the caller (and the trusted proxies) into context variables,
    or Unauthenticated."""

    async def authenticate(context: Context) -> None:
        header = metadata_of(context).get("authorization", "")
        CURRENT_CALLER.set(await authenticator.authenticate(header))
        if trusted_proxies:
            TRUSTED_PROXIES.set(trusted_proxies)

    return authenticate


def authenticated(
    servicer: S,
    service: str,
    authenticator: Authenticator,
    trusted_proxies: tuple[Network, ...] = (),
) -> S:
    """The servicer of `service` (in authz.proto) with every RPC authenticated and behind the
    boundary; done once per method at start-up (a server interceptor would cost a sixth of the
    unary throughput). Only health and reflection are registered without it."""
    before = authentication(authenticator, trusted_proxies)
    return AUTHZ_ERRORS.guard_servicer(servicer, pb.DESCRIPTOR.services_by_name[service], before)

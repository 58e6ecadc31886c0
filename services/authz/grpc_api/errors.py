"""Every authz handler goes through here: the caller is authenticated (but for health and
reflection), and errors leave through the shared boundary (libs.runtime.error_boundary), which
answers each AuthzError with the status its class declares and a transient database failure
with UNAVAILABLE."""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

from google.protobuf.descriptor import FileDescriptor

from authz.v1 import authz_pb2 as pb
from libs.runtime.call_origin import Network, metadata_of
from libs.runtime.error_boundary import BeforeCall, Context, ErrorBoundary
from services.authz.authentication import Authenticator
from services.authz.domain.audit import ANONYMOUS
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


def anonymous(trusted_proxies: tuple[Network, ...] = ()) -> BeforeCall:
    """Run before a public RPC: no token is read, the caller is ANONYMOUS."""

    async def let_through(context: Context) -> None:
        CURRENT_CALLER.set(ANONYMOUS)
        if trusted_proxies:
            TRUSTED_PROXIES.set(trusted_proxies)

    return let_through


def authenticated(
    servicer: S,
    service: str,
    authenticator: Authenticator,
    trusted_proxies: tuple[Network, ...] = (),
    *,
    proto_file: FileDescriptor = pb.DESCRIPTOR,
    public: Collection[str] = (),
) -> S:
    """The servicer of `service` (in `proto_file`, authz.proto by default) with every RPC
    authenticated and behind the boundary; done once per method at start-up (a server
    interceptor would cost a sixth of the unary throughput). Only health and reflection are
    registered without it, and the `public` methods, whose request carries its own credential
    (AcceptInvitation's secret): those are behind the boundary without a token."""
    descriptor = proto_file.services_by_name[service]
    unguarded = {name: getattr(servicer, name) for name in public}
    before = authentication(authenticator, trusted_proxies)
    AUTHZ_ERRORS.guard_servicer(servicer, descriptor, before)
    for name, behavior in unguarded.items():
        method = descriptor.methods_by_name[name].full_name
        setattr(servicer, name, AUTHZ_ERRORS.unary(behavior, method, anonymous(trusted_proxies)))
    return servicer

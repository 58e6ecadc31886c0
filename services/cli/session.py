"""One command's connection to the services: channels with the token on every call (the
project's BearerToken interceptor; explicit metadata on the one streaming call), a deadline on
every call, TLS when a CA file is configured, and every gRPC failure turned into a Failure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import grpc

from audit.v1 import query_pb2_grpc as q_grpc
from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from libs.grpc_tls import channel_credentials, open_channel
from libs.runtime.bearer_token import BearerToken
from services.cli.config import CliSettings, Profile, effective
from services.cli.failures import ACCESS, USAGE, Failure, of_rpc_error, scrub

T = TypeVar("T")


@dataclass
class Session:
    profile: Profile
    authz: grpc.aio.Channel
    audit: grpc.aio.Channel

    def stub(self, service: str) -> Any:
        """An authz stub by service name, e.g. "RoleService"."""
        return getattr(pb_grpc, f"{service}Stub")(self.authz)

    @property
    def access(self) -> pb_grpc.AccessServiceAsyncStub:
        return pb_grpc.AccessServiceStub(self.authz)

    @property
    def api_keys(self) -> pb_grpc.ApiKeyServiceAsyncStub:
        return pb_grpc.ApiKeyServiceStub(self.authz)

    @property
    def query(self) -> q_grpc.AuditQueryServiceAsyncStub:
        return q_grpc.AuditQueryServiceStub(self.audit)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """For streaming calls, which the unary interceptor does not see."""
        return (("authorization", f"Bearer {self.profile.token}"),)


def _channel(target: str, profile: Profile, token: str, timeout_s: float) -> grpc.aio.Channel:
    try:
        credentials = channel_credentials(profile.tls_ca_file)
    except OSError as error:
        raise Failure(f"cannot read the TLS CA file: {error}", ACCESS) from None
    config = {"methodConfig": [{"name": [{}], "timeout": f"{timeout_s:.3f}s"}]}
    options = [("grpc.service_config", json.dumps(config))]
    return open_channel(target, credentials, options, [BearerToken(token)])  # type: ignore[list-item]


@asynccontextmanager
async def opened(profile: Profile, settings: CliSettings) -> AsyncIterator[Session]:
    if not profile.token:
        raise Failure("not logged in: run `authz-audit login` or set AUTHZ_AUDIT_TOKEN", ACCESS)
    authz = _channel(profile.authz_endpoint, profile, profile.token, settings.timeout_s)
    audit = _channel(profile.audit_endpoint, profile, profile.token, settings.timeout_s)
    try:
        session = Session(profile, authz, audit)
        if not profile.account:  # a token from the environment: its owner's account
            me = await session.access.WhoAmI(pb.WhoAmIRequest())
            session.profile = replace(profile, account=me.principal.scope.split("/", 1)[0])
        yield session
    finally:
        await authz.close(None)
        await audit.close(None)


def run(
    work: Callable[[Session], Awaitable[T]],
    settings: CliSettings | None = None,
    profile: Profile | None = None,
    endpoint: str = "authz",
) -> T:
    """Run one command's calls; a gRPC error becomes a Failure naming its status code."""
    settings = settings or CliSettings()
    profile = profile or effective(settings)

    async def main() -> T:
        async with opened(profile, settings) as session:
            return await work(session)

    try:
        return asyncio.run(main())
    except grpc.aio.AioRpcError as error:
        where = profile.audit_endpoint if endpoint == "audit" else profile.authz_endpoint
        raise of_rpc_error(error, where, profile.token) from None
    except ValueError as error:  # a TLS setting without its file, a malformed value
        raise Failure(scrub(str(error), profile.token), USAGE) from None

"""The gRPC channel of any service to authz: TLS or mutual TLS from the settings, a default
deadline on every call, and retries of UNAVAILABLE by gRPC itself (service-config retry policy)
for the read-only AccessService, whose calls are safe to repeat. Management calls are not
retried here: a write whose answer was lost may have committed."""

from __future__ import annotations

import json
from typing import Any

import grpc

from libs.grpc_tls import channel_credentials, open_channel
from libs.runtime.settings import AuthzClientSettings

ACCESS_SERVICE = "authz.v1.AccessService"
RETRY_POLICY = {
    "maxAttempts": 3,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def service_config(timeout_s: float) -> dict[str, Any]:
    """A deadline for every method that sets none (retries included), and the retry policy
    for AccessService (the more specific entry wins for its methods)."""
    timeout = f"{timeout_s:.3f}s"
    return {
        "methodConfig": [
            {"name": [{}], "timeout": timeout},
            {
                "name": [{"service": ACCESS_SERVICE}],
                "timeout": timeout,
                "retryPolicy": RETRY_POLICY,
            },
        ]
    }


def authz_channel(settings: AuthzClientSettings) -> grpc.aio.Channel:
    """Opened lazily (no connection yet); a TLS misconfiguration fails here, at start-up."""
    credentials = channel_credentials(
        settings.authz_tls_ca_file, settings.authz_tls_cert_file, settings.authz_tls_key_file
    )
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(service_config(settings.authz_timeout_s))),
    ]
    return open_channel(settings.authz_target, credentials, options)

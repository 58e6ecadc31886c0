"""The settings every service repeats, declared once. Each service keeps a frozen subclass with
its own env prefix (AUTHZ_, AUDIT_, OUTBOX_), so `AUTHZ_DATABASE_URL`, `AUDIT_TLS_CERT_FILE`,
... are read as before; a subclass may override a default (the port, the grace period)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The database of `scripts/stack up` (and of compose): what `make run` and the tests reach.
DEFAULT_DATABASE_URL = "postgresql://authz_audit:authz_audit@127.0.0.1:55432/authz_audit"


class ServiceSettings(BaseSettings):
    """Any process of the project: its database and its log level."""

    model_config = SettingsConfigDict(frozen=True)

    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line (log_setup)
    # OpenTelemetry: spans exported over OTLP/gRPC to this collector (http://host:4317);
    # empty: tracing off (libs.runtime.tracing).
    otlp_endpoint: str = ""


class GrpcServerSettings(ServiceSettings):
    """A gRPC server (libs.runtime.grpc_server)."""

    host: str = "127.0.0.1"
    port: int  # each service has its own default
    # In-flight calls get this long to finish on SIGTERM.
    shutdown_grace_s: float = 10.0
    # TLS: a certificate and key turn it on; a client CA makes it mutual (clients must present
    # a certificate that CA signed).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    # Prometheus metrics: GET http://metrics_host:metrics_port/metrics. Each service has its
    # own default port; 0 picks a free one, -1 turns it off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = -1


class AuthzClientSettings(BaseSettings):
    """A client of authz (libs.runtime.authz_channel)."""

    model_config = SettingsConfigDict(frozen=True)

    authz_target: str = "127.0.0.1:50051"
    # TLS towards authz: a CA makes the channel TLS; a certificate and key add the client side.
    authz_tls_ca_file: str = ""
    authz_tls_cert_file: str = ""
    authz_tls_key_file: str = ""
    # The deadline of a call to authz that sets none itself (retries included).
    authz_timeout_s: float = 5.0

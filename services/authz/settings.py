"""The authz service's settings: AUTHZ_* environment variables, read once at start-up."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthzSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTHZ_", frozen=True)

    database_url: SecretStr = SecretStr(
        "postgresql://authz_audit:authz_audit@127.0.0.1:55432/authz_audit"
    )
    host: str = "127.0.0.1"
    port: int = 50051
    # Processes serving the port together (SO_REUSEPORT), each a whole replica: one per core.
    workers: int = 1
    # How long Check waits for at_least_revision when the call has no shorter deadline.
    max_revision_wait_s: float = 5.0
    # In-flight calls get this long to finish on SIGTERM.
    shutdown_grace_s: float = 10.0
    # A safety net beside LISTEN/NOTIFY: catch up from the policy log this often.
    poll_interval_s: float = 5.0
    pool_size: int = 10
    # Liveness (DESIGN section 6): no wait without end. A call that cannot get a pooled
    # connection, a lock or a statement's answer in time fails with UNAVAILABLE.
    pool_acquire_timeout_s: float = 5.0
    statement_timeout_ms: int = 10_000
    lock_timeout_ms: int = 5_000
    # Proxies whose x-forwarded-for is believed for the audited client IP: addresses or CIDR
    # networks, comma-separated. Empty: the peer address is the client, whatever it sends.
    trusted_proxies: str = ""
    # Audit events: written to the outbox with each change; the relay publishes them.
    audit_topic: str = "audit.events.v1"
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    run_relay: bool = True  # publish from this process (the relay can also run on its own)
    log_level: str = "INFO"
    # How long a token lookup is trusted before the store is asked again (a revoke in this
    # replica applies at once; in others within this time).
    token_cache_s: float = 5.0
    # TLS: a certificate and key turn it on; a client CA makes it mutual (clients must present
    # a certificate that CA signed).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""

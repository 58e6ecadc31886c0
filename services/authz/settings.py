"""The authz service's settings: AUTHZ_* environment variables, read once at start-up. The
database, log level, TLS and grace period are declared in libs.runtime.settings."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from libs.runtime.settings import GrpcServerSettings


class AuthzSettings(GrpcServerSettings):
    model_config = SettingsConfigDict(env_prefix="AUTHZ_", frozen=True)

    port: int = 50051
    metrics_port: int = 9101  # GET /metrics; with several workers, all of theirs (parent serves)
    # Processes serving the port together (SO_REUSEPORT), each a whole replica: one per core.
    workers: int = 1
    # How long Check waits for at_least_revision when the call has no shorter deadline.
    max_revision_wait_s: float = 5.0
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
    # How long a token lookup is trusted before the store is asked again (a revoke in this
    # replica applies at once; in others within this time).
    token_cache_s: float = 5.0
    # Invitations (services/authz/invitations.py): how long a secret works, how often expiries
    # are recorded as audit events, and accept attempts per client address (per replica).
    invitation_ttl_s: float = 7 * 24 * 3600.0
    invitation_sweep_s: float = 60.0
    invitation_accept_burst: int = 10
    invitation_accept_per_minute: float = 10.0
    # The web console's base URL: invitation emails link to <console_url>/invitations/accept.
    console_url: str = "http://127.0.0.1:8080"
    # Notifications for people (invitations, with their secret): authz.notifications.v1.
    notifications_topic: str = "authz.notifications.v1"
    # Governance: the OPA server that evaluates the policy sets (scripts/stack: OPA_URL), and
    # how long one evaluation may take. It runs inside the write holding the revision lock:
    # keep it short; past it, each policy set's failure mode decides.
    opa_url: str = "http://127.0.0.1:8181"
    opa_timeout_s: float = 0.5

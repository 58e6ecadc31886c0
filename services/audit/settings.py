"""The audit service's settings: AUDIT_* environment variables, read once at start-up."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from libs.runtime.settings import AuthzClientSettings, GrpcServerSettings
from services.audit.domain.chain import ChainKeys

# Known to everyone: lets `make run` and the tests work, anchors nothing. Warned about at start.
DEV_CHAIN_KEY_ID = "dev-insecure"
DEV_CHAIN_KEY = "dev-insecure-chain-key-do-not-use-in-production"


class AuditSettings(GrpcServerSettings, AuthzClientSettings):
    """The database, log level, TLS, grace period (here 5 s) and the channel to authz
    (`AUDIT_AUTHZ_TARGET`, `AUDIT_AUTHZ_TLS_*`) are declared in libs.runtime.settings."""

    model_config = SettingsConfigDict(env_prefix="AUDIT_", frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    topic: str = "audit.events.v1"
    dead_letter_topic: str = "audit.events.v1.dlq"
    group_id: str = "audit-projector"  # the consumer group: workers with one id share the work
    # Partitions and topic settings: AUDIT_TOPIC_* (libs/events/topics.py, shared with the relay).
    # How often the consumer refreshes metadata: partitions it should own but missed (a topic
    # created late, a broker restarted mid-join) are seen within this time, not aiokafka's 5 min.
    metadata_max_age_s: float = 5.0
    # Events per write, about: runs that arrive while a write runs join the next one.
    batch_size: int = 2000
    # At most this much of one partition per fetch (the consumer's memory: partitions x this).
    fetch_partition_bytes: int = 4 * 1024 * 1024
    retention_days: int = 730
    partitions_behind: int = 1
    partitions_ahead: int = 3
    maintenance_interval_s: float = 3600.0
    # A killed worker holds its partitions until its session expires.
    session_timeout_s: float = 10.0
    datadir: str = str(Path(tempfile.gettempdir()) / "authz-audit-faust")  # faust's local state
    # The worker's HTTP health (GET /health): 503 when events wait and nothing was committed
    # for stall_after_s. Port 0 picks a free one; -1 turns it off.
    health_host: str = "127.0.0.1"
    health_port: int = 8081
    health_interval_s: float = 2.0
    stall_after_s: float = 30.0
    # A store failure that is not the data's fault is retried, backing off up to this.
    retry_backoff_max_s: float = 5.0
    # On stop, the batch being written may finish this long; past it, it is abandoned
    # unacknowledged (and stored again, as a duplicate skipped, by whoever reads it next).
    stop_write_timeout_s: float = 10.0
    dead_letter_send_timeout_s: float = 10.0
    # The query API (python -m services.audit serve).
    port: int = 50052
    metrics_port: int = 9102  # the query API's GET /metrics (the worker's: on its health port)
    shutdown_grace_s: float = 5.0
    # Signs page tokens; replicas behind one load balancer need the same key.
    page_token_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_hex(32)))
    # The chain key (HMAC-SHA256), kept outside the database; rows and heads record its id.
    chain_key_id: str = DEV_CHAIN_KEY_ID
    chain_key: SecretStr = SecretStr(DEV_CHAIN_KEY)
    # Retired keys, for verification only: JSON {"key id": "key", ...}.
    chain_old_keys: dict[str, SecretStr] = Field(default_factory=dict)
    # Audit-API denials: at most one ACCESS_DENIED event per caller, scope and permission per
    # window, and at most this many per caller per window.
    denial_window_s: float = 60.0
    denials_per_caller: int = 20

    def chain_keys(self) -> ChainKeys:
        if self.chain_key_id == DEV_CHAIN_KEY_ID and not self.dev_chain_key:
            # Rows of the development key carry this id: a real key needs a name of its own.
            raise ValueError(f"give AUDIT_CHAIN_KEY_ID a name other than {DEV_CHAIN_KEY_ID!r}")
        keys = {k: v.get_secret_value().encode() for k, v in self.chain_old_keys.items()}
        keys[self.chain_key_id] = self.chain_key.get_secret_value().encode()
        return ChainKeys(self.chain_key_id, keys)

    @property
    def dev_chain_key(self) -> bool:
        return self.chain_key.get_secret_value() == DEV_CHAIN_KEY

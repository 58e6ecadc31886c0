"""The mailer's settings: MAILER_* environment variables, read once at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.events.topics import NOTIFICATIONS_TOPIC


class MailerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILER_", frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    topic: str = NOTIFICATIONS_TOPIC
    group_id: str = "authz-mailer"
    # The SMTP server: the stack's mail catcher by default (scripts/stack, MAIL_SMTP_PORT).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_s: float = 30.0
    mail_from: str = "authz <no-reply@localhost>"
    # Shown in the mail for accepting without the console (a grpcurl line): authz's address.
    authz_public_target: str = "127.0.0.1:50051"
    # A failed delivery (SMTP away) is retried after this, doubling up to the maximum.
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0
    # GET http://<health_host>:<health_port>/health: 503 once a mail has waited for the SMTP
    # server longer than health_max_failing_s, or the consumer is not running. 0 picks a free
    # port; -1 turns it off.
    health_host: str = "127.0.0.1"
    health_port: int = 8083
    health_max_failing_s: float = 300.0
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Prometheus metrics: GET http://metrics_host:metrics_port/metrics (0: a free port, -1: off).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9103

"""The console's settings: CONSOLE_* environment variables, read once at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import SettingsConfigDict

from libs.runtime.settings import AuthzClientSettings


class ConsoleSettings(AuthzClientSettings):
    """The channel to authz (`CONSOLE_AUTHZ_TARGET`, `CONSOLE_AUTHZ_TLS_*`, `..._TIMEOUT_S`) is
    declared in libs.runtime.settings; the audit query API's channel mirrors it."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Prometheus metrics: GET http://metrics_host:metrics_port/metrics (0: a free port, -1: off).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9104
    audit_target: str = "127.0.0.1:50052"
    audit_tls_ca_file: str = ""
    audit_tls_cert_file: str = ""
    audit_tls_key_file: str = ""
    # HTTPS served by the console itself; the session cookie is then Secure.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Behind a TLS-terminating proxy: mark the cookie Secure although the console speaks HTTP.
    cookie_secure: bool = False
    # A session ends after this long without a request, and in any case after session_max_s.
    session_idle_s: float = 30 * 60
    session_max_s: float = 12 * 3600
    max_sessions: int = 10_000
    # Events per page of the trail (the API's own bound is 1,000).
    page_size: int = 50

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure or bool(self.tls_cert_file)

"""The settings base: one default database, and every service's variables read as before
under its own prefix."""

from __future__ import annotations

import os

import pytest

from libs.outbox.__main__ import RelaySettings
from libs.runtime.settings import DEFAULT_DATABASE_URL
from services.audit.settings import AuditSettings
from services.authz.settings import AuthzSettings


@pytest.fixture(autouse=True)
def no_service_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults are checked as a fresh process sees them."""
    for name in os.environ:
        if name.startswith(("AUTHZ_", "AUDIT_", "OUTBOX_")):
            monkeypatch.delenv(name)


def test_every_service_defaults_to_the_one_database_url() -> None:
    for settings in (AuthzSettings(), AuditSettings(), RelaySettings()):
        assert settings.database_url.get_secret_value() == DEFAULT_DATABASE_URL
        assert "authz_audit:authz_audit" not in repr(settings)  # the password is redacted


def test_each_prefix_reads_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHZ_DATABASE_URL", "postgresql://authz-db/x")
    monkeypatch.setenv("AUTHZ_TLS_CLIENT_CA_FILE", "/ca.pem")
    monkeypatch.setenv("AUTHZ_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("AUTHZ_SHUTDOWN_GRACE_S", "3")
    monkeypatch.setenv("AUDIT_DATABASE_URL", "postgresql://audit-db/x")
    monkeypatch.setenv("AUDIT_TLS_CERT_FILE", "/cert.pem")
    monkeypatch.setenv("AUDIT_AUTHZ_TARGET", "authz:443")
    monkeypatch.setenv("AUDIT_AUTHZ_TLS_CA_FILE", "/authz-ca.pem")
    monkeypatch.setenv("OUTBOX_LOG_LEVEL", "WARNING")
    authz, audit, relay = AuthzSettings(), AuditSettings(), RelaySettings()
    assert authz.database_url.get_secret_value() == "postgresql://authz-db/x"
    assert (authz.tls_client_ca_file, authz.log_level, authz.shutdown_grace_s) == (
        "/ca.pem",
        "DEBUG",
        3.0,
    )
    assert audit.database_url.get_secret_value() == "postgresql://audit-db/x"
    assert (audit.tls_cert_file, audit.tls_client_ca_file, audit.log_level) == (
        "/cert.pem",
        "",
        "INFO",
    )
    assert (audit.authz_target, audit.authz_tls_ca_file) == ("authz:443", "/authz-ca.pem")
    assert relay.log_level == "WARNING"


def test_defaults_that_differ_per_service_stay_as_they_were() -> None:
    authz, audit = AuthzSettings(), AuditSettings()
    assert (authz.host, authz.port, authz.shutdown_grace_s) == ("127.0.0.1", 50051, 10.0)
    assert (audit.host, audit.port, audit.shutdown_grace_s) == ("127.0.0.1", 50052, 5.0)
    assert audit.authz_target == "127.0.0.1:50051"


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        AuthzSettings().port = 1

"""docker-compose.yml cannot run here (no Docker engine); at least it must be coherent."""

import re
from typing import Any

import yaml

from tests.harness.endpoints import ROOT


def load() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_has_the_stack_with_health_checks() -> None:
    services = load()["services"]
    assert {"kafka", "postgres"} <= services.keys()
    assert services["kafka"]["image"].startswith("apache/kafka:4.0.")
    assert services["postgres"]["image"].startswith("postgres:15")
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"


def test_every_named_service_and_module_exists() -> None:
    services = load()["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        if "build" in service:
            assert (ROOT / service["build"].get("dockerfile", "Dockerfile")).is_file()
            module = (
                service["command"][0]
                if isinstance(service["command"], list)
                else service["command"]
            )
            assert re.fullmatch(r"services\.\w+|libs\.outbox", module), module
            assert (ROOT / module.replace(".", "/") / "__main__.py").is_file(), module


def test_the_pipeline_processes_are_probed_on_their_http_health() -> None:
    services = load()["services"]
    for name, port_setting in (
        ("audit", "AUDIT_HEALTH_PORT"),
        ("relay", "OUTBOX_HEALTH_PORT"),
        ("mailer", "MAILER_HEALTH_PORT"),
    ):
        port = services[name]["environment"][port_setting]
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/health" in probe, name
        assert "/proc" not in probe
    assert services["authz"]["environment"]["AUTHZ_RUN_RELAY"] == "false"


def test_invitation_mail_reaches_the_catcher_and_links_to_the_console() -> None:
    services = load()["services"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit:v1.")
    mailer = services["mailer"]["environment"]
    assert mailer["MAILER_SMTP_HOST"] == "mailpit"
    assert mailer["MAILER_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    console_port = services["console"]["environment"]["CONSOLE_PORT"]
    url = services["authz"]["environment"]["AUTHZ_CONSOLE_URL"]
    assert url == f"http://127.0.0.1:{console_port}"
    assert f"127.0.0.1:{console_port}:{console_port}" in services["console"]["ports"]


def test_authz_asks_the_pinned_opa_of_the_compose_file() -> None:
    services = load()["services"]
    assert re.fullmatch(r"openpolicyagent/opa:\d+\.\d+\.\d+(-debug)?", services["opa"]["image"])
    assert services["authz"]["environment"]["AUTHZ_OPA_URL"] == "http://opa:8181"
    assert "opa" in services["authz"]["depends_on"]
    probe = " ".join(services["opa"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8181/health" in probe

"""Server credentials from settings: TLS with a certificate and key; mutual TLS with a client CA."""

from __future__ import annotations

from pathlib import Path

import grpc


def server_credentials(
    cert_file: str, key_file: str, client_ca_file: str
) -> grpc.ServerCredentials | None:
    if not cert_file:
        return None
    if not key_file:
        raise ValueError("a TLS certificate needs its key file")
    key = Path(key_file).read_bytes()
    cert = Path(cert_file).read_bytes()
    client_ca = Path(client_ca_file).read_bytes() if client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def add_port(
    server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None
) -> int:
    if credentials is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, credentials)

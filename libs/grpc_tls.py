"""gRPC TLS from settings. Servers: TLS with a certificate and key; mutual TLS with a client CA.
Clients: the server's CA; a certificate and key too for mutual TLS."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def channel_credentials(
    ca_file: str, cert_file: str = "", key_file: str = ""
) -> grpc.ChannelCredentials | None:
    """Client credentials towards a TLS server: its CA, plus a certificate and key for mutual
    TLS. Without a CA: plaintext (and a lone certificate is a configuration error, not ignored)."""
    if bool(cert_file) != bool(key_file):
        raise ValueError("a client certificate needs its key file, and a key its certificate")
    if not ca_file:
        if cert_file:
            raise ValueError("a client certificate needs the server's CA file (TLS)")
        return None
    ca = Path(ca_file).read_bytes()
    if not cert_file:
        return grpc.ssl_channel_credentials(ca)
    return grpc.ssl_channel_credentials(
        ca, Path(key_file).read_bytes(), Path(cert_file).read_bytes()
    )


def open_channel(
    target: str,
    credentials: grpc.ChannelCredentials | None,
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    if credentials is None:
        return grpc.aio.insecure_channel(target, options, interceptors=interceptors)
    return grpc.aio.secure_channel(target, credentials, options, interceptors=interceptors)

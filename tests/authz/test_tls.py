"""Optional TLS and mutual TLS on the gRPC server, with certificates made here."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from services.authz.server import running_server
from tests.authz.clients import admin_token, settings_for

pytestmark = pytest.mark.integration


def issue(
    name: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, *, ca: bool = False
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, bytes]:
    ca_cert, ca_key = issue("test CA", None, ca=True)
    server_cert, server_key = issue("authz", (ca_cert.subject, ca_key))
    client_cert, client_key = issue("client", (ca_cert.subject, ca_key))
    stranger_ca, stranger_key = issue("other CA", None, ca=True)
    stranger_cert, stranger_client_key = issue("stranger", (stranger_ca.subject, stranger_key))
    files = {
        "ca": pem(ca_cert),
        "server_cert": pem(server_cert),
        "server_key": key_pem(server_key),
        "client_cert": pem(client_cert),
        "client_key": key_pem(client_key),
        "stranger_cert": pem(stranger_cert),
        "stranger_key": key_pem(stranger_client_key),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return files


async def list_roles(port: int, credentials: grpc.ChannelCredentials | None, token: str) -> None:
    address = f"127.0.0.1:{port}"
    channel = (
        grpc.aio.secure_channel(address, credentials)
        if credentials
        else grpc.aio.insecure_channel(address)
    )
    try:
        stub = pb_grpc.RoleServiceStub(channel)
        await stub.ListRoles(
            pb.ListRequest(scope="a"), metadata=(("authorization", f"Bearer {token}"),), timeout=5
        )
    finally:
        await channel.close(None)


async def test_tls_serves_trusting_clients_only(
    database_url: str, pki: dict[str, bytes], tmp_path: Path
) -> None:
    settings = settings_for(
        database_url,
        tls_cert_file=str(tmp_path / "server_cert"),
        tls_key_file=str(tmp_path / "server_key"),
    )
    async with running_server(settings) as server:
        token = await admin_token(server, "a")
        await list_roles(server.port, grpc.ssl_channel_credentials(pki["ca"]), token)
        with pytest.raises(grpc.aio.AioRpcError) as plaintext:
            await list_roles(server.port, None, token)
        assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_needs_a_client_certificate_of_the_ca(
    database_url: str, pki: dict[str, bytes], tmp_path: Path
) -> None:
    settings = settings_for(
        database_url,
        tls_cert_file=str(tmp_path / "server_cert"),
        tls_key_file=str(tmp_path / "server_key"),
        tls_client_ca_file=str(tmp_path / "ca"),
    )
    async with running_server(settings) as server:
        token = await admin_token(server, "a")
        trusted = grpc.ssl_channel_credentials(pki["ca"], pki["client_key"], pki["client_cert"])
        await list_roles(server.port, trusted, token)
        for credentials in (
            grpc.ssl_channel_credentials(pki["ca"]),
            grpc.ssl_channel_credentials(pki["ca"], pki["stranger_key"], pki["stranger_cert"]),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await list_roles(server.port, credentials, token)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

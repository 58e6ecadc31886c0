"""Where a call comes from: the audited client address (x-forwarded-for counts only behind
trusted proxies) and the bearer token it presents."""

from __future__ import annotations

import pytest

from libs.runtime.call_origin import bearer_token, client_ip, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # an untrusted peer cannot claim anything
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("10.1.1.1", "6.6.6.6, 1.2.3.4, 10.2.2.2", "1.2.3.4"),  # the nearest untrusted hop
        ("10.1.1.1", "not-an-ip", "10.1.1.1"),
        ("10.1.1.1", "10.3.3.3", "10.3.3.3"),  # only proxies: the farthest one
        ("::1", "1.2.3.4", "::1"),
    ],
)
def test_client_ip(peer: str, forwarded: str, expected: str) -> None:
    assert client_ip(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip("127.0.0.1", "1.2.3.4", ()) == "127.0.0.1"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer ", None),
        ("", None),
    ],
)
def test_bearer_token(header: str, token: str | None) -> None:
    assert bearer_token(header) == token

"""Invitations as values, without services: secrets, states, request checks, the rate limit."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.authz.domain import invitations as domain
from services.authz.domain.errors import InvalidArgument
from services.authz.domain.invitations import GroupRef, Invitation, Inviter, InviteRequest
from services.authz.domain.rate_limit import RateLimiter, source_of
from services.authz.domain.tokens import secret_matches

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def invitation(**fields: object) -> Invitation:
    values: dict[str, object] = {
        "account": "a",
        "user": "u",
        "email": "u@x.org",
        "display_name": "",
        "user_groups": (),
        "inviter": Inviter("USER", "admin", "a"),
        "prefix": "0" * 16,
        "secret_hash": b"",
        "created_at": NOW,
        "expires_at": NOW + timedelta(days=7),
    }
    return Invitation(**{**values, **fields})  # type: ignore[arg-type]


def test_a_new_secret_parses_back_and_matches_only_its_hash() -> None:
    secret = domain.new_secret()
    parsed = domain.parse_secret(secret.token)
    assert parsed is not None
    assert parsed[0] == secret.prefix
    assert secret_matches(parsed[1], secret.secret_hash)
    assert not secret_matches(parsed[1][:-1] + "x", secret.secret_hash)
    assert domain.new_secret().token != secret.token


@given(st.text(max_size=200))
def test_anything_else_is_no_secret(text: str) -> None:
    parsed = domain.parse_secret(text)
    if parsed is not None:  # only the exact shape parses
        assert text.strip() == f"inv_{parsed[0]}_{parsed[1]}"


def test_states_at_a_moment() -> None:
    open_ = invitation()
    assert domain.state_at(open_, NOW) == "PENDING"
    assert domain.state_at(open_, NOW + timedelta(days=7)) == "EXPIRED"
    assert domain.state_at(invitation(revoked_at=NOW), NOW) == "REVOKED"
    # Accepted and revoked are final, expiry or not.
    assert domain.state_at(invitation(accepted_at=NOW), NOW + timedelta(days=30)) == "ACCEPTED"
    assert domain.state_at(invitation(revoked_at=NOW), NOW + timedelta(days=30)) == "REVOKED"


def test_the_audit_view_has_no_secret() -> None:
    secret = domain.new_secret()
    view = domain.view(invitation(prefix=secret.prefix, secret_hash=secret.secret_hash), NOW)
    text = repr(view)
    assert secret.prefix not in text
    assert secret.secret_hash.hex() not in text
    assert view["inviter"] == "admin"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (InviteRequest("a/o", "u", "u@x.org"), "account"),
        (InviteRequest("_platform", "u", "u@x.org"), "account"),
        (InviteRequest("a", "_u", "u@x.org"), "user"),
        (InviteRequest("a", "u\n", "u@x.org"), "user"),
        (InviteRequest("a", "u", ""), "email"),
        (InviteRequest("a", "u", "u@@x.org"), "email"),
        (InviteRequest("a", "u", "u @x.org"), "email"),
        (InviteRequest("a", "u", "u@x.org", "x" * 257), "display_name"),
        (InviteRequest("a", "u", "u@x.org", "", (GroupRef("ab", "g"),)), "user_groups.scope"),
        (InviteRequest("a", "u", "u@x.org", "", (GroupRef("a", "g g"),)), "user_groups.identifier"),
        (
            InviteRequest(
                "a", "u", "u@x.org", "", tuple(GroupRef("a", f"g{i}") for i in range(51))
            ),
            "user_groups",
        ),
    ],
)
def test_bad_requests_name_their_field(request_: InviteRequest, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        domain.checked_request(request_)
    assert info.value.field == field


def test_a_good_request_is_normalized() -> None:
    groups = (GroupRef("a/o", "g"), GroupRef("a", "g"), GroupRef("a", "g"))
    checked = domain.checked_request(InviteRequest("a", "u", "u@x.org", "U", groups))
    assert checked.user_groups == (GroupRef("a", "g"), GroupRef("a/o", "g"))


@given(
    st.integers(1, 20),
    st.floats(0, 120),
    st.lists(st.floats(0, 30), min_size=1, max_size=200),
)
def test_a_bucket_never_admits_more_than_burst_plus_the_rate(
    burst: int, per_minute: float, gaps: list[float]
) -> None:
    limiter = RateLimiter(burst=burst, per_minute=per_minute)
    now = 0.0
    admitted = 0
    for gap in gaps:
        now += gap
        admitted += limiter.admit("10.0.0.1", now)
    assert admitted <= burst + now * per_minute / 60.0 + 1e-9
    assert limiter.admit("10.0.0.2", now)  # another address has its own bucket


def test_a_bucket_refills_and_forgets_idle_addresses() -> None:
    limiter = RateLimiter(burst=2, per_minute=60.0, max_keys=3)
    assert [limiter.admit("a", 0.0) for _ in range(3)] == [True, True, False]
    assert limiter.admit("a", 1.0)  # one a second
    for key in ("b", "c", "d"):
        limiter.admit(key, 1.0)
    assert len(limiter._buckets) == 3


@given(st.integers(0, 2**64 - 1), st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=50))
def test_the_addresses_of_one_ipv6_network_share_a_bucket(network: int, hosts: list[int]) -> None:
    """An IPv6 client holds a whole /64 (2^64 addresses): a bucket per address would let it
    guess (and flood the audit trail) without limit. Its addresses share one source."""
    limiter = RateLimiter(burst=1, per_minute=0.0)
    addresses = [str(ipaddress.IPv6Address((network << 64) | host)) for host in hosts]
    assert {source_of(a) for a in addresses} == {source_of(addresses[0])}
    assert limiter.admit(addresses[0], 0.0)
    assert not any(limiter.admit(a, 0.0) for a in addresses)
    other = str(ipaddress.IPv6Address(((network ^ 1) << 64) | hosts[0]))
    assert limiter.admit(other, 0.0)  # another network has its own


def test_ipv4_and_other_sources_are_their_own() -> None:
    assert source_of("10.0.0.1") != source_of("10.0.0.2")
    assert source_of("::ffff:10.0.0.1") == source_of("10.0.0.1")
    assert source_of("unix:/tmp/socket") == "unix:/tmp/socket"
    assert source_of("") == ""

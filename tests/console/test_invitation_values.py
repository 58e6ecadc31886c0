"""What the accept page makes of a pasted link (no services)."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from services.console.pages_invitation import secret_from

SECRET_CHARS = string.ascii_letters + string.digits + "_-"
secrets_ = st.builds(
    lambda prefix, part: f"inv_{prefix}_{part}",
    st.text("0123456789abcdef", min_size=16, max_size=16),
    st.text(SECRET_CHARS, min_size=43, max_size=43),
)
before_fragment = st.text(st.characters(blacklist_characters="#"), max_size=200)


@given(secrets_, before_fragment, st.sampled_from(["", " ", "\n", "\t  "]))
def test_the_secret_is_what_follows_the_links_hash(secret: str, link: str, space: str) -> None:
    assert secret_from(f"{space}{link}#{secret}{space}") == secret


@given(secrets_, st.sampled_from(["", " ", "\r\n"]))
def test_a_bare_secret_is_taken_as_it_is(secret: str, space: str) -> None:
    assert secret_from(space + secret + space) == secret


def test_nothing_pasted_is_no_secret() -> None:
    assert secret_from("") == ""
    assert secret_from("   ") == ""
    assert secret_from("http://console/invitations/accept#") == ""

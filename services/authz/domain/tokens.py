"""API key tokens: `aak_<prefix>_<secret>`. The prefix names the token (and so its key) without
revealing anything; only a SHA-256 of the secret is stored, compared in constant time. The secret
carries 256 random bits, so a fast hash is enough: there is nothing to guess."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import NamedTuple

TOKEN = re.compile(r"^aak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


class NewToken(NamedTuple):
    prefix: str
    token: str  # shown once
    secret_hash: bytes


def new_token(kind: str = "aak") -> NewToken:
    """A `<kind>_<prefix>_<secret>` credential: API keys are `aak`, invitations `inv`."""
    prefix = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewToken(prefix, f"{kind}_{prefix}_{secret}", hash_secret(secret))


def parse(token: str) -> tuple[str, str] | None:
    match = TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)

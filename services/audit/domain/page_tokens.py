"""Opaque, tamper-proof page tokens: the keyset position, bound to the query it belongs to and
signed with HMAC-SHA256."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from services.audit.domain.errors import InvalidArgument

MAX_TOKEN = 1024  # ours are ~150 characters


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(key: bytes, fingerprint: bytes, position: list[str]) -> str:
    body = json.dumps(position).encode()
    mac = hmac.new(key, fingerprint + body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def decode(key: bytes, fingerprint: bytes, token: str, length: int = 2) -> list[str]:
    """The position, or InvalidArgument when the token is malformed, altered or from another
    query."""
    if len(token) > MAX_TOKEN:
        raise InvalidArgument("page_token", f"longer than {MAX_TOKEN} characters")
    try:
        body_text, mac_text = token.split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
        expected = hmac.new(key, fingerprint + body, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise ValueError("signature")
        position = json.loads(body)
        if not (isinstance(position, list) and len(position) == length):
            raise ValueError("shape")
        return [str(value) for value in position]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument("page_token", "malformed, altered or from another query") from None

"""Secrets never leave the process that holds them: values under secret-sounding names, passwords
in URLs and DSNs, bearer credentials and JSON hidden in strings are masked before an event is
written anywhere.

Names are compared normalised (camelCase, case, `-`, `.` and spaces folded), so `X-Api-Key`,
`apiKey` and `API_KEY` are one name."""

from __future__ import annotations

import json
import re
from typing import Any

MASK = "***"

# Substrings of a normalised name (separators removed) that mark a secret.
SECRET_PARTS = (
    "password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "privatekey",
    "credential", "authorization", "cookie", "sessionid", "sessid", "sessionkey", "accesskey",
    "signingkey", "encryptionkey", "masterkey", "clientkey", "secretkey", "bearer", "jwt",
    "connectionstring", "csrf", "xsrf", "signature", "hmac",
)  # fmt: skip
# Whole words of a name that mark a secret on their own ("pass" but not "passenger").
SECRET_WORDS = frozenset(
    {"pass", "auth", "key", "pw", "sid", "session", "pin", "otp", "dsn", "salt", "cvv", "ssn"}
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
# scheme://user:password@host: the password goes, the rest stays readable.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)([^\s@]+)(@)")
# libpq keyword DSNs and query strings: password=..., pwd=...
_KEYWORD_PASSWORD = re.compile(
    r"(?i)(\b(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key)\s*[=:]\s*)"
    r"('[^']*'|\"[^\"]*\"|[^\s&;,]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=\-]{8,}")


def words_of(name: str) -> list[str]:
    """The lower-case words of a field name: `X-Api-Key` -> [x, api, key]."""
    return [w.lower() for w in _SEPARATORS.split(_CAMEL.sub("_", name)) if w]


def is_secret_name(name: str) -> bool:
    words = words_of(name)
    joined = "".join(words)
    return any(part in joined for part in SECRET_PARTS) or not SECRET_WORDS.isdisjoint(words)


def mask_text(text: str) -> str:
    """A string with the secrets it carries masked: URL passwords, password=... pairs, bearer
    credentials, and secret fields of JSON it holds."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and len(stripped) < 1_000_000:
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):
            masked = mask_secrets(parsed)
            return text if masked == parsed else json.dumps(masked, sort_keys=True)
    text = _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)
    text = _KEYWORD_PASSWORD.sub(rf"\g<1>{MASK}", text)
    return _BEARER.sub(rf"\g<1>\g<2>{MASK}", text)


def mask_secrets(value: Any) -> Any:
    """A copy of a JSON-like value with every secret-named field masked, at any depth."""
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and is_secret_name(k) else mask_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value

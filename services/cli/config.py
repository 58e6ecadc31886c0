"""Where the command line finds its endpoints and token: the settings (AUTHZ_AUDIT_* variables)
over the file written by `login`, `$XDG_CONFIG_HOME/authz-audit/config.json` (else
`~/.config/authz-audit/config.json`), which only its owner may read (0600, created so: the token
is never readable by others, not even for an instant)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.cli.failures import ACCESS, Failure

DEFAULT_AUTHZ = "127.0.0.1:50051"
DEFAULT_AUDIT = "127.0.0.1:50052"


class CliSettings(BaseSettings):
    """AUTHZ_AUDIT_TOKEN, AUTHZ_AUDIT_AUTHZ_ENDPOINT, ...: each overrides the file."""

    model_config = SettingsConfigDict(env_prefix="AUTHZ_AUDIT_", frozen=True)

    token: SecretStr = SecretStr("")
    authz_endpoint: str = ""
    audit_endpoint: str = ""
    tls_ca_file: str = ""
    account: str = ""  # the default scope (login stores the token owner's)
    timeout_s: float = 15.0
    config_dir: str = ""  # default: $XDG_CONFIG_HOME/authz-audit or ~/.config/authz-audit


class _Locations(BaseSettings):
    """The two standard variables that place the file (read here only)."""

    model_config = SettingsConfigDict(frozen=True)

    xdg_config_home: str = ""
    home: str = ""


@dataclass(frozen=True)
class Profile:
    """What `login` keeps. The account is the token owner's, the default scope of commands."""

    authz_endpoint: str = DEFAULT_AUTHZ
    audit_endpoint: str = DEFAULT_AUDIT
    token: str = ""
    account: str = ""
    tls_ca_file: str = ""

    def __repr__(self) -> str:  # a stray print or traceback must not show the token
        return (
            f"Profile({self.authz_endpoint!r}, {self.audit_endpoint!r}, account={self.account!r})"
        )


def config_file(settings: CliSettings) -> Path:
    if settings.config_dir:
        return Path(settings.config_dir) / "config.json"
    where = _Locations()
    base = Path(where.xdg_config_home) if where.xdg_config_home else None
    if base is None:
        base = (Path(where.home) if where.home else Path.home()) / ".config"
    return base / "authz-audit" / "config.json"


def stored(settings: CliSettings) -> Profile:
    path = config_file(settings)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Profile()
    except (OSError, ValueError) as error:
        raise Failure(f"cannot read {path}: {error}", ACCESS) from None
    known = {k: str(v) for k, v in data.items() if k in Profile.__dataclass_fields__}
    return Profile(**known)


def effective(settings: CliSettings) -> Profile:
    """The stored profile with every setting given in the environment laid over it."""
    profile = stored(settings)
    overrides = {
        "token": settings.token.get_secret_value(),
        "authz_endpoint": settings.authz_endpoint,
        "audit_endpoint": settings.audit_endpoint,
        "tls_ca_file": settings.tls_ca_file,
        "account": settings.account,
    }
    return replace(profile, **{k: v for k, v in overrides.items() if v})


def save(settings: CliSettings, profile: Profile) -> Path:
    """Written to a new 0600 file beside the old one, then renamed over it (atomic)."""
    path = config_file(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)  # left by a process of the same id that was killed
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            json.dump(asdict(profile), out, indent=2)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def forget(settings: CliSettings) -> Path | None:
    path = config_file(settings)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path

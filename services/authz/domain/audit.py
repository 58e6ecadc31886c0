"""What a mutating call tells the audit trail: who called, from where, and what changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Caller:
    """The authenticated principal (from its API key token), or SYSTEM for internal writes."""

    type: str  # USER, SERVICE_ACCOUNT or SYSTEM
    identifier: str
    scope: str = ""  # a user's account, a service account's scope
    email: str = ""


@dataclass(frozen=True)
class CallInfo:
    caller: Caller
    client_ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    # The audit event's module: the gRPC API's calls are "authz"; the SCIM adapter, which runs
    # in this process and builds its CallInfo itself, says "scim". No request header sets it.
    module: str = "authz"


SYSTEM_CALL = CallInfo(Caller("SYSTEM", "authz"))  # never produced from a request
# The caller of the one RPC without a token (AcceptInvitation: its secret is the credential).
# It holds nothing: no policy line names it.
ANONYMOUS = Caller("ANONYMOUS", "anonymous")


@dataclass(frozen=True)
class Change:
    """One mutating call's change, as one audit event describes it."""

    action: str  # CREATE, UPDATE, DELETE, ADD_MEMBER, REMOVE_MEMBER, ROLE_ASSIGNMENT_*
    kind: str
    scope: str
    identifier: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    labels: dict[str, str] = field(default_factory=dict)

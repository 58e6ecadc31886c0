"""Signed-in users, kept in the console's memory and keyed by a random session id.

Why server-side rather than an encrypted cookie: the API key token never leaves this process
(the browser holds only a 256-bit random id, HttpOnly, SameSite=Strict), signing out destroys
the session at once (a copied cookie is worthless afterwards), and there is no cookie key to
manage or rotate. The cost: sessions live in one process, a restart signs everybody out, and
replicas behind a load balancer would need sticky sessions (documented in the README)."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Session:
    token: str = field(repr=False)  # the API key token; never rendered, logged or sent back
    csrf: str = field(repr=False)  # the form token of this session
    principal_type: str  # USER or SERVICE_ACCOUNT
    principal_id: str
    principal_scope: str  # a user's account, a service account's scope
    email: str
    created_at: float
    last_seen: float
    flash: list[str] = field(default_factory=list)  # notices for the next page shown

    @property
    def account(self) -> str:
        return self.principal_scope.split("/", 1)[0]


class SessionStore:
    """Sessions end after `idle_s` without use or `max_s` in all; at most `capacity` live at
    once (the least recently used goes first), so sign-ins cannot exhaust memory; and at most
    PER_PRINCIPAL per principal (its own least recently used goes first), so that one token
    signed in over and over cannot push everybody else's sessions out."""

    PER_PRINCIPAL = 20

    def __init__(
        self,
        idle_s: float,
        max_s: float,
        capacity: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._idle_s = idle_s
        self._max_s = max_s
        self._capacity = capacity
        self._clock = clock

    def create(
        self, token: str, principal_type: str, principal_id: str, scope: str, email: str
    ) -> str:
        now = self._clock()
        own = [
            key
            for key, s in self._sessions.items()
            if (s.principal_type, s.principal_scope, s.principal_id)
            == (principal_type, scope, principal_id)
        ]
        for key in own[: max(0, len(own) - self.PER_PRINCIPAL + 1)]:
            del self._sessions[key]
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = Session(
            token, secrets.token_urlsafe(32), principal_type, principal_id, scope, email, now, now
        )
        while len(self._sessions) > self._capacity:
            self._sessions.popitem(last=False)
        return session_id

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._idle_s or now - session.created_at > self._max_s:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

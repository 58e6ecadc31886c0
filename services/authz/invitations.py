"""Invitations: invite, resend, revoke, list, accept, and the expiry sweep.

Each write is one transaction (management/transaction.py): the user, its group memberships,
the invitation, the notification carrying the secret (outbox) and the audit event commit
together. The secret leaves only in the notification; the store keeps its SHA-256.

Who may: InviteUser, ResendInvitation and RevokeInvitation need core_user_invite at the
account (and joining groups, core_usergroup_manage on each plus what the group's bindings
grant: the no-escalation rule of AddMember; resending a revoked invitation, what the user's
bindings and groups grant, as enabling a disabled user); ListInvitations needs
core_user_view. All are asked before anything is looked up. AcceptInvitation needs no token:
the secret is the credential. Every failed accept gets the same InvitationInvalid, and is
audited (coalesced per client address) with its reason but never the secret; accept attempts
are rate limited per client address (domain/rate_limit.py).

Expiry: an open invitation is EXPIRED from its expires_at on (state_at), whatever reads it. The
expiry becomes an audit event when the sweep (`expire_due`, run by the server every
AUTHZ_INVITATION_SWEEP_S) records it, or earlier when a resend finds it due."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from libs.events.coalescing import Coalescer
from services.authz.domain import invitations as domain
from services.authz.domain import scopes, tokens, validation
from services.authz.domain.audit import ANONYMOUS, SYSTEM_CALL, Caller, CallInfo, Change
from services.authz.domain.entities import ApiKey, PrincipalRef, Stored, User, UserGroup
from services.authz.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    InvitationInvalid,
    NotFound,
    TooManyAttempts,
)
from services.authz.domain.invitations import Invitation, Inviter, InviteRequest, State
from services.authz.domain.rate_limit import RateLimiter, source_of
from services.authz.granting import Granting
from services.authz.guard import Guard
from services.authz.management import Changes, Management, Writer, fetch
from services.authz.management.create import MAX_REQUEST_ID, idempotency_key
from services.authz.management.derivation import derive_grants_of, derive_lines
from services.authz.management.operation_access import OperationAccess
from services.authz.management.reads import decode_page_token, encode_page_token
from services.authz.management.transaction import Operation
from services.authz.notifications import OutboxNotifications
from services.authz.settings import AuthzSettings
from services.authz.store import invitations as store
from services.authz.store.repository import Tx

log = logging.getLogger(__name__)

INVITE = "core_user_invite"
VIEW = "core_user_view"
SWEEP_BATCH = 100


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Written:
    invitation: Invitation
    revision: int


@dataclass(frozen=True)
class Accepted:
    user: Stored
    api_key: Stored
    token: str  # shown once
    revision: int


class _Replay(Exception):
    """A retried InviteUser: roll back and answer with the first call's invitation."""

    def __init__(self, revision: int) -> None:
        self.revision = revision


def _inviter(call: CallInfo) -> Inviter:
    c = call.caller
    return Inviter(c.type, c.identifier, c.scope, c.email)


def _change(action: str, new: Invitation, old: Invitation | None, now: datetime) -> Change:
    """The audit event's view: inviter and invitee as labels, states without the secret."""
    return Change(
        action,
        "invitation",
        new.account,
        new.user,
        domain.view(old, now) if old is not None else None,
        domain.view(new, now),
        {"inviter": new.inviter.identifier, "invitee": new.user},
    )


class Invitations:
    def __init__(
        self,
        writer: Writer,
        guard: Guard,
        notifications: OutboxNotifications,
        *,
        ttl_s: float,
        limiter: RateLimiter,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer = writer
        self.guard = guard
        self.notifications = notifications
        self.ttl = timedelta(seconds=ttl_s)
        self.limiter = limiter
        self.clock = clock
        self.monotonic = monotonic
        self.access = OperationAccess(guard)
        self.granting = Granting(writer.state, fetch)
        # Failed accepts: one event per address, account and reason a minute, 20 per address.
        self.failures = Coalescer(window_s=60.0, per_caller=20)

    # ------------------------------------------------------------ administrators

    async def invite(self, request: InviteRequest, call: CallInfo, request_id: str = "") -> Written:
        req = domain.checked_request(request)
        if request_id:
            validation.text(request_id, "request_id", MAX_REQUEST_ID)
        await self.guard.require(call, INVITE, req.account, "invitation", req.user)
        for group in req.user_groups:
            await self.access.authorize(call, "user_group", "write", group.scope, group.identifier)
        now = self.clock()
        secret = domain.new_secret()
        invitation = Invitation(
            req.account,
            req.user,
            req.email,
            req.display_name,
            req.user_groups,
            _inviter(call),
            secret.prefix,
            secret.secret_hash,
            created_at=now,
            expires_at=now + self.ttl,
        )
        key = idempotency_key(call, "invite", req.account, request_id)

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Written, Change]:
            if request_id and (previous := await tx.remembered_response(key)):
                raise _Replay(int(previous["revision"]))
            user = User(req.account, req.user, req.email, req.display_name, state="INVITED")
            await tx.insert(user, revision)
            for ref in req.user_groups:
                await self._join(tx, call, ref, req.user, revision, changes)
            await store.insert(tx.conn, invitation)
            await self.notifications.invitation(tx.conn, invitation, secret.token, now)
            if request_id:
                await tx.remember_response(key, {"revision": revision})
            return Written(invitation, revision), _change("INVITE", invitation, None, now)

        try:
            return await self.writer.write(op, call)
        except _Replay as replay:
            async with self.writer.db.acquire() as conn:
                first = await store.of_user(conn, req.account, req.user)
            if first is None:  # deleted since: the retry has nothing to answer with
                raise NotFound(f"the invitation of {req.user!r} no longer exists") from None
            return Written(first, replay.revision)

    async def _join(
        self,
        tx: Tx,
        call: CallInfo,
        ref: domain.GroupRef,
        user: str,
        revision: int,
        changes: Changes,
    ) -> None:
        """Add the invitee to a group, as AddMember would (the grants wait for acceptance)."""
        group: UserGroup = (await fetch(tx, "user_group", ref.scope, ref.identifier)).entity
        new = dataclasses.replace(group, members=tuple(sorted({*group.members, user})))
        validation.bounded(new.members, "user_groups", validation.MAX_MEMBERS)
        await self.granting.require_held_for(tx, call, new, group)
        await tx.update(new, revision)
        await derive_lines(tx, new, changes)

    async def _open(self, tx: Tx, account: str, user: str) -> Invitation:
        invitation = await store.of_user(tx.conn, account, user, lock=True)
        if invitation is None:
            raise NotFound(f"no invitation of {user!r} in {account!r}")
        if invitation.accepted_at is not None:
            raise FailedPrecondition(f"the invitation of {user!r} was accepted already")
        return invitation

    async def resend(self, account: str, user: str, call: CallInfo) -> Written:
        """A new secret and expiry; the old secret finds nothing any more."""
        domain.check_account_user(account, user)
        await self.guard.require(call, INVITE, account, "invitation", user)
        now = self.clock()
        secret = domain.new_secret()

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Written, Change]:
            old = await self._open(tx, account, user)
            if old.revoked_at is not None:
                # Reopening a revoked invitation lets the invitee in, and its bindings and
                # groups grant once it accepts: the caller must hold that (no escalation).
                invited: User = (await fetch(tx, "user", account, user)).entity
                active = dataclasses.replace(invited, state="ACTIVE")
                await self.granting.require_held_for(tx, call, active, invited)
            if domain.state_at(old, now) == "EXPIRED" and old.expired_at is None:
                old = await self._record_expiry(tx, old, revision, now)
            new = dataclasses.replace(
                old,
                prefix=secret.prefix,
                secret_hash=secret.secret_hash,
                inviter=_inviter(call),
                sends=old.sends + 1,
                expires_at=now + self.ttl,
                revoked_at=None,
                expired_at=None,
            )
            await store.save(tx.conn, new)
            await self.notifications.invitation(tx.conn, new, secret.token, now)
            return Written(new, revision), _change("INVITE_RESEND", new, old, now)

        return await self.writer.write(op, call)

    async def revoke(self, account: str, user: str, call: CallInfo) -> Written:
        domain.check_account_user(account, user)
        await self.guard.require(call, INVITE, account, "invitation", user)
        now = self.clock()

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Written, Change]:
            old = await self._open(tx, account, user)
            if old.revoked_at is not None:
                raise FailedPrecondition(f"the invitation of {user!r} is revoked already")
            new = dataclasses.replace(old, revoked_at=now)
            await store.save(tx.conn, new)
            change = _change("INVITE_REVOKE", new, old, now)
            change.labels["revoked_by"] = call.caller.identifier
            return Written(new, revision), change

        return await self.writer.write(op, call)

    async def list(
        self,
        account: str,
        states: tuple[State, ...],
        page_size: int,
        page_token: str,
        call: CallInfo,
    ) -> tuple[list[Invitation], str, datetime]:
        """A page of the account's invitations (by user), the next page's token, and the
        moment their states were computed at."""
        scopes.check_scope(account, "account")
        if scopes.level(account) != "account":
            raise InvalidArgument("account", "invitations are account-level: give the account")
        size = validation.page_size(page_size)
        wanted = tuple(sorted(set(states)))
        listing = "invitation:" + ",".join(wanted)
        after = decode_page_token(page_token, listing, account)
        await self.guard.require(call, VIEW, account, "invitation")
        now = self.clock()
        async with self.writer.db.acquire() as conn:
            rows = await store.page(conn, account, wanted, now, after, size + 1)
        if len(rows) <= size:
            return rows, "", now
        rows = rows[:size]
        return rows, encode_page_token(listing, account, rows[-1].user), now

    # ------------------------------------------------------------ the invitee

    async def accept(self, secret: str, account: str, call: CallInfo) -> Accepted:
        """`call` carries the client's address; its caller is ignored (there is none)."""
        if account:
            scopes.check_scope(account, "account")
        if not self.limiter.admit(call.client_ip, self.monotonic()):
            await self._failed(call, None, "rate_limited")
            raise TooManyAttempts()
        parsed = domain.parse_secret(secret)
        if parsed is None:
            await self._failed(call, None, "malformed")
            raise InvitationInvalid()
        prefix, part = parsed
        now = self.clock()
        async with self.writer.db.acquire() as conn:
            found = await store.by_prefix(conn, prefix)
        reason = self._refusal(found, part, account, now)
        if reason is not None or found is None:
            await self._failed(call, found, reason or "unknown")
            raise InvitationInvalid()
        invitee = Caller("USER", found.user, found.account, found.email)
        as_invitee = dataclasses.replace(call, caller=invitee)
        try:
            return await self.writer.write(self._accept_op(prefix, part, account, now), as_invitee)
        except InvitationInvalid:  # lost a race: accepted, revoked or resent meanwhile
            await self._failed(call, found, "changed")
            raise

    @staticmethod
    def _refusal(
        invitation: Invitation | None, part: str, account: str, now: datetime
    ) -> str | None:
        """Why this secret does not open this invitation (for the audit trail only)."""
        if invitation is None or not tokens.secret_matches(part, invitation.secret_hash):
            return "unknown"
        if account and account != invitation.account:
            return "other_account"
        state = domain.state_at(invitation, now)
        return None if state == "PENDING" else state.lower()

    def _accept_op(
        self, prefix: str, part: str, account: str, now: datetime
    ) -> Operation[Accepted]:
        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[Accepted, Change]:
            old = await store.by_prefix(tx.conn, prefix, lock=True)
            if old is None or self._refusal(old, part, account, now) is not None:
                raise InvitationInvalid()
            new = dataclasses.replace(old, accepted_at=now)
            await store.save(tx.conn, new)
            stored_user = await fetch(tx, "user", old.account, old.user)
            if stored_user.entity.state != "INVITED":  # disabled (deprovisioned) meanwhile
                raise InvitationInvalid()
            user = dataclasses.replace(stored_user.entity, state="ACTIVE")
            await tx.update(user, revision)
            # Its bindings and memberships now derive their lines: they start to grant.
            await derive_grants_of(tx, user, changes)
            key, token = await self._first_key(tx, old, revision, now)
            accepted = Accepted(Stored(user, revision), key, token, revision)
            change = _change("INVITE_ACCEPT", new, old, now)
            change.labels["api_key"] = key.entity.identifier
            return accepted, change

        return op

    @staticmethod
    async def _first_key(
        tx: Tx, invitation: Invitation, revision: int, now: datetime
    ) -> tuple[Stored, str]:
        issued = tokens.new_token()
        key = ApiKey(
            invitation.account,
            f"invitation-{secrets.token_hex(4)}",
            PrincipalRef("USER", invitation.user, invitation.account),
            "first key (invitation accepted)",
            created_at=now.isoformat(),
            token_prefixes=(issued.prefix,),
        )
        await tx.insert(key, revision)
        stored = Stored(key, revision)
        await tx.insert_token(issued.prefix, stored, "user", issued.secret_hash, None)
        return stored, issued.token

    async def _failed(self, call: CallInfo, invitation: Invitation | None, reason: str) -> None:
        """An ACCESS_DENIED event of a failed accept (coalesced per address): the reason and,
        when the secret named one, the invitation's account and user; never the secret."""
        account = invitation.account if invitation is not None else ""
        # per source, as the rate limit: an IPv6 client's /64
        held = self.failures.admit(source_of(call.client_ip), account, reason, self.monotonic())
        if held is None:
            return
        labels = {"operation": "AcceptInvitation", "reason": reason}
        if held:
            labels["coalesced"] = str(held)
        user = invitation.user if invitation is not None else ""
        change = Change("ACCESS_DENIED", "invitation", account, user, None, None, labels)
        anonymous = dataclasses.replace(call, caller=ANONYMOUS)
        try:
            async with self.writer.db.acquire() as conn, conn.transaction():
                await self.writer.events.record(conn, change, self.writer.state.revision, anonymous)
        except Exception:  # the attempt is refused all the same
            log.warning("a failed invitation accept could not be audited", exc_info=True)

    # ------------------------------------------------------------ expiry

    async def _record_expiry(
        self, tx: Tx, invitation: Invitation, revision: int, now: datetime
    ) -> Invitation:
        expired = dataclasses.replace(invitation, expired_at=now)
        await store.save(tx.conn, expired)
        change = _change("INVITE_EXPIRE", expired, invitation, now)
        await self.writer.events.record(tx.conn, change, revision, SYSTEM_CALL)
        return expired

    async def expire_due(self) -> int:
        """Record (and audit) the expiry of open invitations past their expires_at, up to a
        batch; return how many. Replicas may all sweep: a recorded expiry is never redone."""
        now = self.clock()
        async with self.writer.db.acquire() as conn:
            if not await store.due(conn, now, 1):
                return 0  # nothing due: no write, no revision spent

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[int, None]:
            due = await store.due(tx.conn, now, SWEEP_BATCH, lock=True)
            for invitation in due:
                await self._record_expiry(tx, invitation, revision, now)
            return len(due), None

        return await self.writer.write(op, SYSTEM_CALL)


def invitations_of(settings: AuthzSettings, management: Management) -> Invitations:
    return Invitations(
        management.writer,
        management.guard,
        OutboxNotifications(settings.console_url, settings.notifications_topic),
        ttl_s=settings.invitation_ttl_s,
        limiter=RateLimiter(
            burst=settings.invitation_accept_burst,
            per_minute=settings.invitation_accept_per_minute,
        ),
    )


async def sweep_expired(invitations: Invitations, interval_s: float) -> None:
    """Record expiries until cancelled; a failure (the database away) waits for the next turn."""
    while True:
        try:
            while await invitations.expire_due() == SWEEP_BATCH:
                pass  # a full batch: there may be more right away
        except Exception:
            log.warning("recording invitation expiries failed; retrying later", exc_info=True)
        await asyncio.sleep(interval_s)

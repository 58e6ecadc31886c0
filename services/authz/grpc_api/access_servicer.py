"""Thin handlers of the AccessService."""

from __future__ import annotations

from operator import itemgetter
from typing import Any, cast

import grpc

from authz.v1 import authz_pb2 as pb
from services.authz.access import Access, Principal, subject_of
from services.authz.domain.audit import SYSTEM_CALL
from services.authz.domain.entity_lines import caller_subject
from services.authz.domain.errors import Denial, InvalidArgument, PermissionDenied
from services.authz.domain.lines import TREE, CheckRequest
from services.authz.domain.policy_index import PolicyIndex
from services.authz.domain.required_permissions import CHECK_FOR_OTHERS
from services.authz.grpc_api.batch_check_wire import (
    ALLOWED,
    DENIED,
    BatchCheckWire,
    response_bytes,
    result_entry,
)
from services.authz.grpc_api.call_info import CURRENT_CALLER, call_info
from services.authz.grpc_api.converters import caller_principal_type, principal_type
from services.authz.guard import Guard
from services.authz.management.reads import Reads
from services.authz.metrics import (
    BATCH_ALLOWED,
    BATCH_DENIED,
    BATCH_ERROR,
    CHECK_ALLOWED,
    CHECK_DENIED,
    DECISION_CACHE_MISSES,
)

Context = grpc.aio.ServicerContext[Any, Any]


def item_error(exc: InvalidArgument | PermissionDenied) -> pb.ItemError:
    if isinstance(exc, InvalidArgument):
        code, field = grpc.StatusCode.INVALID_ARGUMENT, exc.field
    else:
        code, field = grpc.StatusCode.PERMISSION_DENIED, "principal"
    return pb.ItemError(code=code.value[0], message=exc.message, field=field)


# An item about another principal at a scope where the caller lacks core_access_check.
NOT_FOR_OTHERS = result_entry(
    pb.BatchCheckResult(error=item_error(PermissionDenied(f"the caller lacks {CHECK_FOR_OTHERS}")))
)


def principal_of(p: pb.Principal) -> Principal:
    return Principal(principal_type(p.type, "principal.type"), p.identifier, p.scope)


# An item seen before: its request's subject and scope (for the tenancy check, which depends on
# the caller) and its result entry.
Answer = tuple[str, str, bytes]
_ENTRY = itemgetter(2)
REMEMBERED_ANSWERS = 16_384  # bounded like Access.remembered_requests


class Answers:
    """BatchCheck's answers by item bytes, and whether a caller may ask about others at a scope
    (by caller type, subject and scope). An answer holds while the request it came from is
    still valid (the same remembered-requests map: the catalog is the same) and the index
    decides alike (the same index, at the same generation); else they start afresh."""

    def __init__(self) -> None:
        self._answers: dict[bytes, Answer] = {}
        self.for_others: dict[tuple[str, str, str], bool] = {}
        self._index: PolicyIndex | None = None
        self._generation = -1
        self._requests: dict[bytes, CheckRequest] | None = None

    def current(
        self, index: PolicyIndex, requests: dict[bytes, CheckRequest]
    ) -> dict[bytes, Answer]:
        if (
            index is not self._index
            or index.generation != self._generation
            or requests is not self._requests
            or len(self._answers) >= REMEMBERED_ANSWERS
            or len(self.for_others) >= REMEMBERED_ANSWERS
        ):
            self._answers = {}
            self.for_others = {}
            self._index, self._generation, self._requests = index, index.generation, requests
        return self._answers


class AccessServicer:
    """Registered by batch_check_wire.add_access_service."""

    def __init__(self, access: Access, guard: Guard, reads: Reads, max_wait_s: float) -> None:
        self.access = access
        self.guard = guard
        self.reads = reads  # Explain names the granting bindings' resource groups
        self.max_wait_s = max_wait_s
        self.answers = Answers()

    def _request(self, m: pb.CheckRequest) -> CheckRequest:
        return self.access.request(
            principal_of(m.principal),
            m.resource_scope,
            m.resource_type,
            m.resource_identifier,
            m.permission,
        )

    async def _may_ask(self, subject: str, scope: str, context: Context) -> None:
        """Asking about oneself needs nothing more; about another principal, a permission."""
        if subject != caller_subject(CURRENT_CALLER.get()):
            await self.guard.require(call_info(context), CHECK_FOR_OTHERS, scope, "access")

    async def _at_revision(self, revision: int, context: Context) -> int:
        if 0 <= revision <= self.access.state.revision:  # the common case: no waiting
            return self.access.state.revision
        remaining = context.time_remaining()
        timeout = self.max_wait_s if remaining is None else min(remaining, self.max_wait_s)
        return await self.access.at_revision(revision, max(timeout - 0.05, 0))

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: Context) -> pb.WhoAmIResponse:
        caller = call_info(context).caller
        kind = caller_principal_type(caller.type)
        principal = pb.Principal(type=kind, identifier=caller.identifier, scope=caller.scope)
        return pb.WhoAmIResponse(principal=principal, email=caller.email)

    async def Check(self, request: pb.CheckRequest, context: Context) -> pb.CheckResponse:
        req = self._request(request)
        await self._may_ask(req.subject, req.scope, context)
        revision = await self._at_revision(request.at_least_revision, context)
        index = self.access.state.index
        misses = index.decision_misses
        allowed = self.access.check(req)
        (CHECK_ALLOWED if allowed else CHECK_DENIED).inc()
        if index.decision_misses != misses:
            DECISION_CACHE_MISSES.inc()
        return pb.CheckResponse(allowed=allowed, revision=revision)

    async def BatchCheck(self, request: BatchCheckWire, context: Context) -> bytes:
        """Answered from bytes (batch_check_wire): an item seen before costs a lookup by its bytes
        and the tenancy check; a new one is validated, checked for tenancy, decided and then
        remembered. When every item was seen before and the caller may ask at every scope its
        items about others name (the common case), the batch is answered without a Python step
        per item."""
        items = request.items
        self.access.batch_size(len(items))
        revision = await self._at_revision(request.at_least_revision, context)
        call = call_info(context)
        caller = caller_subject(call.caller)
        # Whether the caller may ask about others, by scope: asked once per batch and scope.
        for_others: dict[str, bool] = {}
        index = self.access.state.index
        misses = index.decision_misses
        remembered = self.access.remembered_requests()
        answers = self.answers.current(index, remembered)

        asked_before = self.answers.for_others  # the same question in earlier batches

        def may_ask(scope: str) -> bool:
            may = for_others.get(scope)
            if may is None:
                key = (call.caller.type, caller, scope)
                may = asked_before.get(key)
                if may is None:
                    may = asked_before[key] = self.guard.allowed(call, CHECK_FOR_OTHERS, scope)
                for_others[scope] = may
            return may

        def new_item(wire: bytes) -> bytes:
            """The entry of an item not answered before (or forgotten since)."""
            req = remembered.get(wire)
            if req is None:
                try:  # the item parses: the request did (batch_check_wire)
                    req = remembered[wire] = self._request(pb.CheckRequest.FromString(wire))
                except InvalidArgument as exc:
                    return result_entry(pb.BatchCheckResult(error=item_error(exc)))
            if req.subject != caller and not may_ask(req.scope):
                return NOT_FOR_OTHERS
            entry = ALLOWED if index.check(req) else DENIED
            answers[wire] = (req.subject, req.scope, entry)
            return entry

        found = list(map(answers.get, items))
        entries: list[bytes] | None = None
        if None not in found:  # the common case: every item seen before
            known = cast(list[Answer], found)
            asked = {scope for subject, scope, _ in known if subject != caller}
            if all([may_ask(scope) for scope in asked]):  # every one asked, as in the loop
                entries = list(map(_ENTRY, known))
        if entries is None:  # some item is new or not the caller's to ask about: one by one
            entries = []
            append = entries.append
            for wire, answer in zip(items, found, strict=True):
                if answer is None:
                    append(new_item(wire))
                    continue
                subject, scope, entry = answer
                if subject != caller:
                    may = for_others.get(scope)  # may_ask, inlined: most items are about others
                    if not (may_ask(scope) if may is None else may):
                        entry = NOT_FOR_OTHERS
                append(entry)
        # Counted once per batch, not per item: a thousand decisions cost four increments.
        # Every entry but the two prepared ones is an item's error.
        allowed, denied = entries.count(ALLOWED), entries.count(DENIED)
        BATCH_ALLOWED.inc(allowed)
        BATCH_DENIED.inc(denied)
        BATCH_ERROR.inc(len(entries) - allowed - denied)
        DECISION_CACHE_MISSES.inc(max(0, index.decision_misses - misses))
        denied_scopes = sorted(scope for scope, may in for_others.items() if not may)
        for scope in denied_scopes:  # one per scope at most, and coalesced per caller
            denial = Denial(CHECK_FOR_OTHERS, scope, "access")
            await self.guard.record(call, PermissionDenied("denied", denial))
        return response_bytes(entries, revision)

    async def Explain(self, request: pb.CheckRequest, context: Context) -> pb.ExplainResponse:
        req = self._request(request)
        await self._may_ask(req.subject, req.scope, context)
        revision = await self._at_revision(request.at_least_revision, context)
        subject = req.subject
        explanation = self.access.explain(req)
        grants = []
        for g in explanation.grants:
            scope, _, identifier = g.binding.rpartition("/")
            # The grant is the asker's to see; reading its binding needs no further permission.
            binding = (
                await self.reads.get("role_binding", scope, identifier, SYSTEM_CALL)
            ).stored.entity
            grants.append(
                pb.Grant(
                    role_binding=g.binding,
                    role=g.role.removeprefix("role:"),
                    resource_group=binding.resource_group,
                    scope=g.scope,
                    include_child_scopes=g.mode == TREE,
                    via_group="" if g.subject == subject else g.subject.removeprefix("group:"),
                )
            )
        return pb.ExplainResponse(
            allowed=explanation.allowed, grants=grants, reason=explanation.reason, revision=revision
        )

    async def ListEffectivePermissions(
        self, request: pb.ListEffectivePermissionsRequest, context: Context
    ) -> pb.ListEffectivePermissionsResponse:
        subject = subject_of(principal_of(request.principal), request.scope)
        await self._may_ask(subject, request.scope, context)
        revision = await self._at_revision(request.at_least_revision, context)
        permissions = self.access.effective_permissions(subject, request.scope)
        return pb.ListEffectivePermissionsResponse(permissions=permissions, revision=revision)

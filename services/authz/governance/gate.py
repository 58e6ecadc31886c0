"""Governance inside the write path: a change is reviewed by the policy sets of its scope and
the scopes above it, inside the write's transaction (after the entity is known, before commit).
A policy's save is compiled and pushed to OPA here too, so that an invalid one writes nothing.

The database is the source of truth: an evaluation reads the sets and policies (with their
etags) in the write's transaction and asks OPA for exactly those versions; a version OPA lacks
(a restart, a save on another replica) is pushed from the database and asked again."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from services.authz.domain import governance, scopes
from services.authz.domain.audit import CallInfo, Change
from services.authz.domain.entities import (
    GovernancePolicy,
    PolicySet,
    Stored,
    from_body,
    to_body,
)
from services.authz.domain.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.authz.governance.opa_client import OpaClient, OpaUnavailable, RegoRejected
from services.authz.management.lookup import fetch
from services.authz.store.connections import Connections
from services.authz.store.repository import Tx

log = logging.getLogger(__name__)


def _package(stored: Stored) -> str:
    p: GovernancePolicy = stored.entity
    return governance.package_path(p.scope, p.identifier, stored.etag)


async def related_of(tx: Tx, kind: str, body: dict[str, Any] | None) -> dict[str, Any]:
    """For a binding: the role (with its permissions) and the resource group it joins."""
    if kind != "role_binding" or body is None:
        return {}
    related: dict[str, Any] = {"role": None, "resource_group": None}
    try:
        role = await fetch(tx, "role", body["role_scope"], body["role"])
        related["role"] = to_body(role.entity)
        group = await fetch(tx, "resource_group", body["scope"], body["resource_group"])
        related["resource_group"] = to_body(group.entity)
    except NotFound:
        pass  # a dry run may name what does not exist; a write has checked its references
    return related


@dataclass
class Gate:
    opa: OpaClient

    async def review(self, tx: Tx, revision: int, change: Change, call: CallInfo) -> Change:
        """The change with the evaluation in its labels; PolicyViolation / PolicyUnavailable
        when it is refused. A policy's save is compiled by OPA (InvalidArgument with OPA's
        message and line)."""
        if change.kind == "governance_policy" and change.new is not None:
            await self.push_checked(Stored(from_body(change.kind, change.new), revision))
        if change.kind == "governance_policy" and change.new is None:
            await self._refuse_if_used(tx, change.scope, change.identifier)
        review = await self.evaluate(tx, change, call)
        return change if review is None else governance.enforce(review, change)

    async def evaluate(self, tx: Tx, change: Change, call: CallInfo) -> governance.Review | None:
        """What the policy sets say of the change; None when none targets it (OPA not asked)."""
        if change.kind not in governance.GOVERNED_KINDS:
            return None
        in_chain, named = await tx.policy_sets_in(scopes.ancestors_and_self(change.scope))
        sets: list[PolicySet] = [s.entity for s in in_chain]
        chosen = governance.applicable(sets, change.kind, governance.event_of(change.action))
        if not chosen:
            return None
        keys = {(ref.scope, ref.identifier) for s in chosen for ref in s.policies}
        policies = {
            (p.entity.scope, p.entity.identifier): p
            for p in named
            if (p.entity.scope, p.entity.identifier) in keys
        }
        related = await related_of(tx, change.kind, change.new or change.old)
        document = governance.input_document(change, call.caller, related)
        denials = await self._deny_sets(list(policies.items()), document)
        return governance.Review(tuple(governance.verdicts(chosen, denials)))

    async def _deny_sets(
        self, policies: list[tuple[tuple[str, str], Stored]], document: dict[str, Any]
    ) -> dict[tuple[str, str], list[Any] | None] | None:
        """Each policy's deny messages (None for a policy OPA could not evaluate), or None
        when OPA cannot answer at all."""
        if not policies:
            return {}
        packages = [_package(stored) for _, stored in policies]
        try:
            answers = await self.opa.deny_sets(packages, document)
            if answers is None:  # OPA lacks a version: push them from the store, ask again
                for _, stored in policies:
                    await self.push(stored)
                answers = await self.opa.deny_sets(packages, document)
        except (OpaUnavailable, RegoRejected) as e:
            log.warning("governance: OPA could not evaluate: %s", e)
            if len(policies) == 1:
                return None
            # Perhaps one policy OPA could not finish in time: each asked on its own, so that
            # a slow policy leaves only its own sets unevaluated, never the others asked with it.
            alone = await asyncio.gather(*(self._deny_sets([p], document) for p in policies))
            return {
                key: None if a is None else a[key]
                for (key, _), a in zip(policies, alone, strict=True)
            }
        if answers is None:
            log.warning("governance: OPA has no answer for %s", packages)
            return None
        return {
            key: list(a) if isinstance(a, list) else []
            for (key, _), a in zip(policies, answers, strict=True)
        }

    async def push(self, stored: Stored) -> None:
        p: GovernancePolicy = stored.entity
        source = governance.with_package(p.rego, _package(stored))
        await self.opa.put_module(governance.module_id(p.scope, p.identifier), source)

    async def push_checked(self, stored: Stored) -> None:
        """Compile and push a policy being saved; refuse what does not compile or reads beyond
        its input and its own package."""
        p: GovernancePolicy = stored.entity
        module = governance.module_id(p.scope, p.identifier)
        try:
            await self.push(stored)
            ast = await self.opa.module_ast(module)
        except RegoRejected as e:
            raise InvalidArgument("policy.rego", str(e)) from None
        except OpaUnavailable as e:
            raise Unavailable(f"governance: OPA cannot compile the policy now ({e})") from None
        forbidden = governance.forbidden_references(ast, _package(stored))
        if forbidden:
            await self.opa.delete_module(module)
            raise InvalidArgument(
                "policy.rego",
                f"may read only its input and its own rules; refused: {', '.join(forbidden)}",
            )
        if not governance.defines_deny_set(ast):
            await self.opa.delete_module(module)
            raise InvalidArgument("policy.rego", "define the rule `deny contains msg if { ... }`")

    async def _refuse_if_used(self, tx: Tx, scope: str, identifier: str) -> None:
        users = await tx.policy_sets_using(scope, identifier)
        if users:
            names = ", ".join(f"{s.entity.scope}/{s.entity.identifier}" for s in users[:5])
            raise FailedPrecondition(f"policy sets still use policy {identifier!r}: {names}")

    async def after_commit(self, change: Change) -> None:
        """A deleted policy's module leaves OPA (best effort: nothing evaluates it any more)."""
        if change.kind == "governance_policy" and change.new is None:
            try:
                await self.opa.delete_module(governance.module_id(change.scope, change.identifier))
            except OpaUnavailable as e:
                log.info("governance: the deleted policy stays in OPA until it restarts: %s", e)

    async def refill(self, db: Connections) -> int:
        """Push every stored policy (at start-up): OPA keeps nothing of its own."""
        async with db.acquire() as conn:
            stored = await Tx(conn).all_governance_policies()
        for s in stored:
            try:
                await self.push(s)
            except RegoRejected as e:  # e.g. after an OPA upgrade: its sets go unevaluated
                log.warning("governance: OPA refuses stored policy %s: %s", s.entity.identifier, e)
        return len(stored)

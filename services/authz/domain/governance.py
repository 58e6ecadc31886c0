"""Governance, the pure part: which policy sets a change meets, the input document their Rego
policies read, the OPA package each policy lives in, and what the answers decide. The HTTP calls
to OPA and the store lookups are at the edge (services/authz/governance/)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from services.authz.domain import scopes
from services.authz.domain.audit import Caller, Change
from services.authz.domain.entities import PolicySet
from services.authz.domain.errors import FailedPrecondition, InvalidArgument, Unavailable

# The entity kinds a policy set may target, and its events.
GOVERNED_KINDS = (
    "role",
    "role_binding",
    "resource_group",
    "user_group",
    "service_account",
    "user",
    "api_key",
)
EVENTS = ("on_save", "on_delete")
SEVERITIES = ("error", "warning")
FAILURE_MODES = ("closed", "open")
MAX_REGO = 64 * 1024
MAX_POLICIES_PER_SET = 20
# What one evaluation keeps of the policies' messages (audit labels and the refusal).
MAX_MESSAGES = 10
MAX_MESSAGE_CHARS = 300

_PACKAGE_LINE = re.compile(r"^[ \t]*package[ \t]+[A-Za-z_][A-Za-z0-9_.]*[ \t]*(#.*)?$", re.M)


def default_failure_mode(severity: str) -> str:
    return "closed" if severity == "error" else "open"


def event_of(action: str) -> str:
    return "on_delete" if action in ("DELETE", "ROLE_ASSIGNMENT_DELETE") else "on_save"


def _digest(scope: str, identifier: str) -> str:
    return hashlib.sha256(f"{scope}\x00{identifier}".encode()).hexdigest()[:32]


def module_id(scope: str, identifier: str) -> str:
    """The policy's module in OPA: one per policy, replaced by each save."""
    return f"governance/{_digest(scope, identifier)}"


def package_path(scope: str, identifier: str, etag: int) -> str:
    """The package a policy's saved version is evaluated in: derived from the policy's key (so
    tenants never share a package) and its etag (so an evaluation never reads a stale version:
    a missing package means OPA lacks this version, and it is pushed again)."""
    return f"governance.p{_digest(scope, identifier)}.r{etag}"


def with_package(rego: str, package: str) -> str:
    """The source with its package declaration renamed, on the same line (OPA's error lines
    stay those of the source as written)."""
    match = _PACKAGE_LINE.search(rego)
    before = rego[: match.start()] if match else ""
    if match is None or any(
        line.strip() and not line.strip().startswith("#") for line in before.splitlines()
    ):
        raise InvalidArgument("policy.rego", "must start with a package declaration")
    return f"{before}package {package}{rego[match.end() :]}"


def applicable(sets: list[PolicySet], kind: str, event: str) -> list[PolicySet]:
    """The enabled sets (of the change's scope and its ancestors) that target this change."""
    chosen = [s for s in sets if s.enabled and kind in s.entity_types and event in s.events]
    return sorted(chosen, key=lambda s: (s.scope, s.identifier))


def _scope_document(path: str) -> dict[str, str]:
    parts = [*path.split("/"), "", ""]
    return {
        "path": path,
        "level": scopes.level(path) if path else "",
        "account": parts[0],
        "organization": parts[1],
        "project": parts[2],
    }


# Fields a policy has no business reading (an API key's token prefixes).
HIDDEN_FIELDS = ("token_prefixes",)


def _visible(body: dict[str, Any] | None) -> dict[str, Any] | None:
    if body is None:
        return None
    return {k: v for k, v in body.items() if k not in HIDDEN_FIELDS}


def input_document(
    change: Change, caller: Caller, related: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a policy reads as `input`: the entity before and after, the action and event, the
    scope, the caller, and for bindings the role and resource group they join (`related`)."""
    return {
        "entity_type": change.kind,
        "action": change.action,
        "event": event_of(change.action),
        "scope": _scope_document(change.scope),
        "identifier": change.identifier,
        "before": _visible(change.old),
        "after": _visible(change.new),
        "caller": {"type": caller.type, "identifier": caller.identifier, "scope": caller.scope},
        **(related or {}),
    }


def _clean(message: Any) -> str:
    text = message if isinstance(message, str) else repr(message)
    text = "".join(c if c.isprintable() else " " for c in text)
    return text[:MAX_MESSAGE_CHARS]


@dataclass(frozen=True)
class Verdict:
    """What one policy set said of a change."""

    scope: str
    identifier: str
    severity: str
    failure_mode: str
    outcome: str  # pass | deny | unevaluated
    messages: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.scope}/{self.identifier}"


def verdicts(
    sets: list[PolicySet], denials: dict[tuple[str, str], list[Any] | None] | None
) -> list[Verdict]:
    """Each set's verdict from its policies' deny messages (by policy key), or, when OPA could
    not answer (`denials` None, or None for one of the set's policies), unevaluated."""
    out = []
    for s in sets:
        mode = s.failure_mode or default_failure_mode(s.severity)
        if denials is None:
            out.append(Verdict(s.scope, s.identifier, s.severity, mode, "unevaluated"))
            continue
        answers = [denials.get((p.scope, p.identifier), []) for p in s.policies]
        if any(a is None for a in answers):  # one of its policies could not be evaluated
            out.append(Verdict(s.scope, s.identifier, s.severity, mode, "unevaluated"))
            continue
        found = [_clean(m) for a in answers for m in a or []]
        messages = tuple(sorted(set(found)))[:MAX_MESSAGES]
        out.append(
            Verdict(s.scope, s.identifier, s.severity, mode, "deny" if found else "pass", messages)
        )
    return out


@dataclass(frozen=True)
class Review:
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    @property
    def decision(self) -> str:
        """deny (an error-severity set denies), unavailable (a fail-closed set could not be
        evaluated), warn (a warning denies, or a fail-open set was not evaluated), or allow."""
        outcomes = {(v.outcome, v.severity, v.failure_mode) for v in self.verdicts}
        if any(o == "deny" and sev == "error" for o, sev, _ in outcomes):
            return "deny"
        if any(o == "unevaluated" and mode == "closed" for o, _, mode in outcomes):
            return "unavailable"
        if any(o != "pass" for o, _, _ in outcomes):
            return "warn"
        return "allow"

    def labels(self) -> dict[str, str]:
        """The evaluation as the audit event's labels."""
        messages = [f"{v.key}: {m}" for v in self.verdicts for m in v.messages]
        labels = {
            "governance": self.decision,
            "governance_policy_sets": ",".join(f"{v.key}={v.outcome}" for v in self.verdicts),
        }
        if messages:
            labels["governance_messages"] = " | ".join(messages[:MAX_MESSAGES])
        return labels

    def refusal(self) -> str:
        if self.decision == "unavailable":
            closed = [
                v.key
                for v in self.verdicts
                if v.outcome == "unevaluated" and v.failure_mode == "closed"
            ]
            return f"governance could not evaluate policy sets {', '.join(closed)}: try again"
        parts = [
            f"policy set {v.key}: {'; '.join(v.messages)}"
            for v in self.verdicts
            if v.outcome == "deny" and v.severity == "error"
        ]
        return "refused by governance: " + " | ".join(parts)


class PolicyViolation(FailedPrecondition):
    """An error-severity policy set denies the change: nothing is written; `record` is the
    audit event of the refusal (written after the rollback)."""

    def __init__(self, message: str, record: Change) -> None:
        super().__init__(message)
        self.record = record


class PolicyUnavailable(Unavailable):
    """OPA could not evaluate a fail-closed policy set: nothing is written."""

    def __init__(self, message: str, record: Change) -> None:
        super().__init__(message)
        self.record = record


def enforce(review: Review, change: Change) -> Change:
    """The change with the evaluation in its labels, or the refusal (with its own event)."""
    labels = {**change.labels, **review.labels()}
    decision = review.decision
    if decision in ("deny", "unavailable"):
        action = "POLICY_VIOLATION" if decision == "deny" else "POLICY_UNAVAILABLE"
        record = Change(
            action, change.kind, change.scope, change.identifier, change.old, change.new, labels
        )
        if decision == "deny":
            raise PolicyViolation(review.refusal(), record)
        raise PolicyUnavailable(review.refusal(), record)
    return Change(
        change.action, change.kind, change.scope, change.identifier, change.old, change.new, labels
    )


# Builtins a tenant's policy may not call: they reach the network (http.send, net.*) or read
# the OPA server's own configuration and environment (opa.runtime).
FORBIDDEN_ROOTS = ("http", "net", "opa")
# JSON schema builtins fetch a schema's remote `$ref` (any URL, built from input if need be).
FORBIDDEN_BUILTINS = ("json.match_schema", "json.verify_schema")


def forbidden_references(ast: Any, package: str) -> list[str]:
    """What a compiled module (OPA's AST as JSON) reads beyond its input and its own package:
    another package's documents (`data.…`, other tenants' policies) or a forbidden builtin."""
    own = package.split(".")
    found: set[str] = set()

    def name(ref: list[Any]) -> str:
        return ".".join(str(t.get("value")) for t in ref if isinstance(t, dict))[:120]

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        if node.get("type") == "ref" and isinstance(node.get("value"), list) and node["value"]:
            ref = node["value"]
            head = ref[0].get("value") if isinstance(ref[0], dict) else None
            if head == "data":
                path = [t.get("value") for t in ref[1 : 1 + len(own)] if isinstance(t, dict)]
                if path != own:
                    found.add(name(ref))
            elif head in FORBIDDEN_ROOTS or name(ref) in FORBIDDEN_BUILTINS:
                found.add(name(ref))
            walk(ref[1:])
            return
        if node.get("type") == "var" and node.get("value") == "data":
            found.add("data")
        for key, value in node.items():
            if key != "package":
                walk(value)

    walk(ast)
    return sorted(found)


def defines_deny_set(ast: Any) -> bool:
    """Whether the module defines `deny` as a set (`deny contains msg if ...`): what an
    evaluation reads. Anything else would leave `deny` undefined, and every change unevaluated."""
    rules = ast.get("rules", []) if isinstance(ast, dict) else []
    heads = [r.get("head", {}) for r in rules if isinstance(r, dict)]
    deny = [h for h in heads if h.get("name") == "deny"]
    return bool(deny) and all("key" in h and "value" not in h for h in deny)

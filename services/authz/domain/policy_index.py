"""An indexed evaluator of the policy lines that decides exactly as the Casbin model does.

pycasbin evaluates the matcher against every p line for every check; here a check only looks at
the p lines of the subject itself and of the groups it belongs to. The property test
(tests/authz/test_policy_matches_casbin.py) proves both decide alike.

Assumptions, true of the lines the service writes (lines.py), under which this equals Casbin:
- g lines join users (or service accounts) to groups, never groups to groups: membership is
  followed one level, where Casbin's g is transitive (up to 10 levels).
- g2 lines join roles to permissions, never roles to roles: one level as well.
- role keys (``role:...``) and permission names (``core_...``) never coincide: Casbin's g2(x, x)
  would otherwise grant a permission named like the role.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import NamedTuple, TypeVar

from services.authz.domain.lines import ANY, TREE, CheckRequest, PolicyLine, scope_covers

_ARITY = {"p": 7, "g": 2, "g2": 2}
# Decisions are remembered until the policy changes; past this many, the memory starts over.
DECISION_CACHE_SIZE = 200_000  # ~50 MB of memory at most
_K = TypeVar("_K")
_V = TypeVar("_V")


class Grant(NamedTuple):
    """One p line that grants a request: Explain's answer, one per binding (and subject)."""

    binding: str
    subject: str
    role: str
    scope: str
    mode: str
    resource_type: str
    resource_id: str


def _grant(values: tuple[str, ...]) -> Grant:
    subject, role, scope, mode, resource_type, resource_id, binding = values
    return Grant(binding, subject, role, scope, mode, resource_type, resource_id)


class PolicyIndex:
    """The policy lines, indexed for checks; updated incrementally as lines come and go."""

    def __init__(self, lines: Iterable[PolicyLine] = ()) -> None:
        self._lines: set[PolicyLine] = set()
        self._grants_by_subject: defaultdict[str, set[Grant]] = defaultdict(set)
        # The same grants by (subject, scope): a check visits the request's scope and its
        # ancestors only, instead of every grant the subject reaches.
        self._grants_by_subject_scope: defaultdict[tuple[str, str], set[Grant]] = defaultdict(set)
        self._decisions: dict[CheckRequest, bool] = {}
        self._groups_by_member: defaultdict[str, set[str]] = defaultdict(set)
        self._permissions_by_role: defaultdict[str, set[str]] = defaultdict(set)
        for line in lines:
            self.add(line)

    def __len__(self) -> int:
        return len(self._lines)

    def lines(self) -> set[PolicyLine]:
        return set(self._lines)

    def add(self, line: PolicyLine) -> None:
        """Add a line; adding a line already present is a no-op (lines are a set, as in SQL)."""
        if _ARITY.get(line.ptype) != len(line.values):
            raise ValueError(f"not a policy line of the model: {line!r}")
        if line in self._lines:
            return
        self._lines.add(line)
        self._decisions.clear()
        if line.ptype == "p":
            grant = _grant(line.values)
            self._grants_by_subject[grant.subject].add(grant)
            self._grants_by_subject_scope[grant.subject, grant.scope].add(grant)
        elif line.ptype == "g":
            self._groups_by_member[line.values[0]].add(line.values[1])
        else:
            self._permissions_by_role[line.values[0]].add(line.values[1])

    def remove(self, line: PolicyLine) -> None:
        """Remove a line; removing a line not present is a no-op."""
        if line not in self._lines:
            return
        self._lines.remove(line)
        self._decisions.clear()
        key, value = line.values[0], line.values[1]
        if line.ptype == "p":
            grant = _grant(line.values)
            _discard(self._grants_by_subject, key, grant)
            _discard(self._grants_by_subject_scope, (grant.subject, grant.scope), grant)
        elif line.ptype == "g":
            _discard(self._groups_by_member, key, value)
        else:
            _discard(self._permissions_by_role, key, value)

    def apply(self, added: Iterable[PolicyLine], removed: Iterable[PolicyLine]) -> None:
        """Apply one revision's change: removals first, so a line both removed and added stays."""
        for line in removed:
            self.remove(line)
        for line in added:
            self.add(line)

    def groups_of(self, subject: str) -> set[str]:
        return set(self._groups_by_member.get(subject, ()))

    def check(self, req: CheckRequest) -> bool:
        decision = self._decisions.get(req)
        if decision is None:
            decision = self._decide(req)
            if len(self._decisions) >= DECISION_CACHE_SIZE:
                self._decisions.clear()
            self._decisions[req] = decision
        return decision

    def _decide(self, req: CheckRequest) -> bool:
        """The matcher of model.conf over the grants of the request's scope (any mode) and of
        its ancestors (mode tree), for the subject and each of its groups."""
        parts = req.scope.split("/")
        scopes = ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
        permissions = self._permissions_by_role
        by_scope = self._grants_by_subject_scope
        for principal in (req.subject, *self._groups_by_member.get(req.subject, ())):
            for depth, scope in enumerate(scopes):
                for grant in by_scope.get((principal, scope), ()):
                    if (
                        (depth == 0 or grant.mode == TREE)
                        and grant.resource_type in (ANY, req.resource_type)
                        and grant.resource_id in (ANY, req.resource_id)
                        and req.permission in permissions.get(grant.role, ())
                    ):
                        return True
        return False

    def explain(self, req: CheckRequest) -> list[Grant]:
        """Every p line that grants the request, as Grants sorted by binding then subject."""
        return sorted(self._granting(req))

    def permissions_of(self, subject: str, scope: str) -> set[str]:
        """Every permission the subject holds at `scope` on some resource (any type or id)."""
        permissions: set[str] = set()
        for grant in self._reachable_grants(subject):
            if scope_covers(grant.scope, grant.mode, scope):
                permissions |= self._permissions_by_role.get(grant.role, set())
        return permissions

    def _reachable_grants(self, subject: str) -> Iterator[Grant]:
        """The p lines of the subject itself (Casbin's g(x, x)) and of its groups."""
        for principal in (subject, *self._groups_by_member.get(subject, ())):
            yield from self._grants_by_subject.get(principal, ())

    def _granting(self, req: CheckRequest) -> Iterator[Grant]:
        """The matcher of model.conf, clause by clause, over the reachable p lines only."""
        for grant in self._reachable_grants(req.subject):
            if (
                req.permission in self._permissions_by_role.get(grant.role, ())
                and scope_covers(grant.scope, grant.mode, req.scope)
                and grant.resource_type in (ANY, req.resource_type)
                and grant.resource_id in (ANY, req.resource_id)
            ):
                yield grant


def _discard(index: dict[_K, set[_V]], key: _K, value: _V) -> None:
    """Remove a value from an index entry, dropping the entry once empty (no leaks on churn)."""
    values = index[key]
    values.discard(value)
    if not values:
        del index[key]

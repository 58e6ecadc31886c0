"""An indexed evaluator of the policy lines that decides exactly as the Casbin model does.

pycasbin evaluates the matcher against every p line for every check. Here the p lines are kept
by principal and scope ("buckets", their grants by role), and every subject has a view that
merges its own buckets with its groups' by scope. A check reads that view at the request's scope
and its ancestors (at most three lookups), looks only at the roles that carry the permission, and
ends with a few set lookups for the resource. Memory is the limit of a cold check's speed: each
lookup in a structure of a million lines is a cache miss, so a check makes as few as it can:
scope and role names are interned where they key the index (and the scopes a check asks for are
the same objects), so a dictionary or set lookup that finds its key compares it by identity
instead of reading a string somewhere else in memory; likewise "any resource" is one shared
tuple. The property test (tests/authz/test_policy_matches_casbin.py) proves both decide alike.

Assumptions, true of the lines the service writes (lines.py), under which this equals Casbin:
- g lines join users (or service accounts) to groups, never groups to groups: membership is
  followed one level, where Casbin's g is transitive (up to 10 levels).
- g2 lines join roles to permissions, never roles to roles: one level as well.
- role keys (``role:...``) and permission names (``core_...``) never coincide: Casbin's g2(x, x)
  would otherwise grant a permission named like the role.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from sys import intern
from typing import NamedTuple

from services.authz.domain.lines import ANY, TREE, CheckRequest, PolicyLine

_ARITY = {"p": 7, "g": 2, "g2": 2}
# Decisions are remembered until the policy changes; past this many, the memory starts over.
DECISION_CACHE_SIZE = 200_000  # ~50 MB of memory at most

Values = tuple[str, ...]  # the values of a p line, in model order
Selector = tuple[str, str, str, str]  # (scope, mode, resource type, resource id) of a p line
Resources = set[tuple[str, str]]  # (resource type, resource id) pairs a role is granted on
# Role maps at a scope: what covers the scope itself, and what covers only the scopes below it.
_Maps = tuple[dict[str, Resources], dict[str, Resources]]


class Grant(NamedTuple):
    """One p line that grants a request: Explain's answer, one per binding (and subject)."""

    binding: str
    subject: str
    role: str
    scope: str
    mode: str
    resource_type: str
    resource_id: str


def _grant(values: Values) -> Grant:
    subject, role, scope, mode, resource_type, resource_id, binding = values
    return Grant(binding, subject, role, scope, mode, resource_type, resource_id)


@lru_cache(maxsize=65_536)
def _scope_and_ancestors(scope: str) -> tuple[tuple[str, int], ...]:
    """``a/o/p`` -> ((``a/o/p``, 0), (``a/o``, 1), (``a``, 1)): the scopes whose p lines may
    cover it, each with the maps that do (`_Bucket.maps`: 0 the scope itself, 1 below it)."""
    parts = scope.split("/")
    return tuple(
        (intern("/".join(parts[:n])), int(n < len(parts))) for n in range(len(parts), 0, -1)
    )


def _below(scope: str) -> str:
    """The view key of what covers the scopes below `scope` (a scope never ends with '/')."""
    return intern(scope + "/")


@lru_cache(maxsize=65_536)
def _view_keys(scope: str) -> tuple[str, ...]:
    """``a/o/p`` -> (``a/o/p``, ``a/o/``, ``a/``): the view entries that may cover it."""
    return tuple(at if not below else _below(at) for at, below in _scope_and_ancestors(scope))


_ANY_RESOURCE = (ANY, ANY)


class _Bucket:
    """The p lines of one principal at one scope, and what they grant by role: `maps[0]`
    covers the scope itself (lines of both modes), `maps[1]` its descendants (mode tree)."""

    __slots__ = ("lines", "maps")

    def __init__(self) -> None:
        self.lines: set[Values] = set()
        self.maps: _Maps = ({}, {})

    def add(self, values: Values, resource: tuple[str, str]) -> None:
        self.lines.add(values)
        role, mode = intern(values[1]), values[3]
        self.maps[0].setdefault(role, set()).add(resource)
        if mode == TREE:
            self.maps[1].setdefault(role, set()).add(resource)


class PolicyIndex:
    """The policy lines, indexed for checks; updated incrementally as lines come and go."""

    def __init__(self, lines: Iterable[PolicyLine] = ()) -> None:
        self._size = 0
        self._buckets: dict[str, dict[str, _Bucket]] = {}  # principal -> scope -> bucket
        self._groups_by_member: dict[str, set[str]] = {}
        self._members_by_group: dict[str, set[str]] = {}
        self._permissions_by_role: dict[str, set[str]] = {}
        self._roles_by_permission: dict[str, set[str]] = {}
        # What each subject is granted through its own lines and its groups', merged by scope:
        # a check then reads one entry per scope instead of one per principal and scope.
        # subject -> scope -> role -> resources, where the scope is the one covered ("a/o") or
        # the scopes below it ("a/o/"): one lookup per scope a check reads.
        self._views: dict[str, dict[str, dict[str, Resources]]] = {}
        # One tuple per distinct (type, id): a million lines share a few thousand.
        self._resources: dict[tuple[str, str], tuple[str, str]] = {_ANY_RESOURCE: _ANY_RESOURCE}
        self._decisions: dict[CheckRequest, bool] = {}
        self.decision_misses = 0  # checks the cache could not answer (read by metrics)
        # Bumped whenever a change may alter decisions: what callers remember of this index's
        # answers (BatchCheck's items) holds while it stays the same.
        self.generation = 0
        self.apply(lines, ())

    def __len__(self) -> int:
        return self._size

    def lines(self) -> set[PolicyLine]:
        found = {
            PolicyLine("p", values)
            for scopes in self._buckets.values()
            for bucket in scopes.values()
            for values in bucket.lines
        }
        for member, groups in self._groups_by_member.items():
            found.update(PolicyLine("g", (member, group)) for group in groups)
        for role, permissions in self._permissions_by_role.items():
            found.update(PolicyLine("g2", (role, permission)) for permission in permissions)
        return found

    def add(self, line: PolicyLine) -> None:
        """Add a line; adding a line already present is a no-op (lines are a set, as in SQL)."""
        self.apply((line,), ())

    def remove(self, line: PolicyLine) -> None:
        """Remove a line; removing a line not present is a no-op."""
        self.apply((), (line,))

    def apply(self, added: Iterable[PolicyLine], removed: Iterable[PolicyLine]) -> None:
        """Apply one revision's change: removals first, so a line both removed and added stays.
        The views of the principals whose lines changed, and of their members, are rebuilt once,
        at the end."""
        stale: set[str] = set()
        for line in removed:
            self._remove(line, stale)
        for line in added:
            self._add(line, stale)
        members = self._members_by_group
        for subject in stale.union(*(members[p] for p in stale if p in members)):
            self._rebuild_view(subject)
        if stale:
            self._forget_decisions()

    def _add(self, line: PolicyLine, stale: set[str]) -> None:
        ptype, values = line
        if _ARITY.get(ptype) != len(values):
            raise ValueError(f"not a policy line of the model: {line!r}")
        if ptype == "p":
            principal = values[0]
            scopes = self._buckets.setdefault(principal, {})
            bucket = scopes.get(values[2])
            if bucket is None:
                bucket = scopes[intern(values[2])] = _Bucket()
            if values in bucket.lines:
                return
            resource = (values[4], values[5])
            bucket.add(values, self._resources.setdefault(resource, resource))
            stale.add(principal)
        elif ptype == "g":
            member, group = values
            groups = self._groups_by_member.setdefault(member, set())
            if group in groups:
                return
            groups.add(group)
            self._members_by_group.setdefault(group, set()).add(member)
            stale.add(member)
        else:
            role, permission = values
            permissions = self._permissions_by_role.setdefault(role, set())
            if permission in permissions:
                return
            permissions.add(permission)
            self._roles_by_permission.setdefault(permission, set()).add(intern(role))
            self._forget_decisions()
        self._size += 1

    def _remove(self, line: PolicyLine, stale: set[str]) -> None:
        ptype, values = line
        if ptype == "p":
            principal, scope = values[0], values[2]
            scopes = self._buckets.get(principal, {})
            bucket = scopes.get(scope)
            if bucket is None or values not in bucket.lines:
                return
            # Rebuild what the bucket grants from its remaining lines (a few, on average).
            rest = bucket.lines - {values}
            if rest:
                scopes[scope] = fresh = _Bucket()
                for kept in rest:
                    fresh.add(kept, self._resources[kept[4], kept[5]])
            else:
                del scopes[scope]
                if not scopes:
                    del self._buckets[principal]
            stale.add(principal)
        elif ptype == "g":
            member, group = values
            if group not in self._groups_by_member.get(member, ()):
                return
            _discard(self._groups_by_member, member, group)
            _discard(self._members_by_group, group, member)
            stale.add(member)
        else:
            role, permission = values
            if permission not in self._permissions_by_role.get(role, ()):
                return
            _discard(self._permissions_by_role, role, permission)
            _discard(self._roles_by_permission, permission, role)
            self._forget_decisions()
        self._size -= 1

    def _principals(self, subject: str) -> Iterator[str]:
        """The subject itself (Casbin's g(x, x)) and the groups it belongs to."""
        yield subject
        yield from sorted(self._groups_by_member.get(subject, ()))

    def _rebuild_view(self, subject: str) -> None:
        view: dict[str, dict[str, Resources]] = {}
        for principal in self._principals(subject):
            for scope, bucket in self._buckets.get(principal, {}).items():
                for key, grants in ((scope, bucket.maps[0]), (_below(scope), bucket.maps[1])):
                    if not grants:
                        continue
                    prior = view.get(key)
                    # The first bucket's map is shared, not copied: views are rebuilt whenever
                    # a bucket changes. A second bucket at the same scope makes a union.
                    view[key] = grants if prior is None else _union(prior, grants)
        if view:
            self._views[subject] = view
        else:
            self._views.pop(subject, None)

    def forget_decisions(self) -> None:
        """Empty the decision cache (a change to the lines does this by itself)."""
        self._forget_decisions()

    def _forget_decisions(self) -> None:
        self._decisions.clear()
        self.generation += 1

    def groups_of(self, subject: str) -> set[str]:
        return set(self._groups_by_member.get(subject, ()))

    def check(self, req: CheckRequest) -> bool:
        decision = self._decisions.get(req)
        if decision is None:
            self.decision_misses += 1
            decision = self._decide(req)
            if len(self._decisions) >= DECISION_CACHE_SIZE:
                self._decisions.clear()
            self._decisions[req] = decision
        return decision

    def _decide(self, req: CheckRequest) -> bool:
        """The matcher of model.conf: a p line of the subject or one of its groups, at the
        request's scope (any mode) or an ancestor (mode tree), whose role has the permission,
        on the resource type and id (or ``*``)."""
        subject, scope, resource_type, resource_id, permission = req
        view = self._views.get(subject)
        if view is None:
            return False
        roles = self._roles_by_permission.get(permission)
        if not roles:
            return False
        for key in _view_keys(scope):
            grants = view.get(key)
            if grants is not None:
                for role, resources in grants.items():
                    # The resource lookups allocate only when the one before missed; "any
                    # resource" is the commonest grant.
                    if role in roles and (
                        _ANY_RESOURCE in resources
                        or (resource_type, resource_id) in resources
                        or (resource_type, ANY) in resources
                        or (ANY, resource_id) in resources
                    ):
                        return True
        return False

    def _covering(self, subject: str, scope: str) -> Iterator[tuple[_Bucket, bool]]:
        """The buckets of the subject and its groups at the scope and its ancestors, each with
        whether it covers the scope itself (else only through its tree lines)."""
        for principal in self._principals(subject):
            buckets = self._buckets.get(principal, {})
            for at, below in _scope_and_ancestors(scope):
                bucket = buckets.get(at)
                if bucket is not None:
                    yield bucket, not below

    def explain(self, req: CheckRequest) -> list[Grant]:
        """Every p line that grants the request, as Grants sorted by binding then subject."""
        roles = self._roles_by_permission.get(req.permission, set())
        return sorted(
            _grant(values)
            for bucket, here in self._covering(req.subject, req.scope)
            for values in bucket.lines
            if (here or values[3] == TREE)
            and values[1] in roles
            and values[4] in (ANY, req.resource_type)
            and values[5] in (ANY, req.resource_id)
        )

    def holds(self, subject: str, permission: str, grant: Selector) -> bool:
        """Whether the subject (itself or through a group) holds `permission` over everything
        a line with `grant`'s (scope, mode, resource type, resource id) would cover: every
        request that such a line matches, one of the subject's lines matches too. This is the
        delegation rule: a caller may grant only what it holds."""
        scope, mode, resource_type, resource_id = grant
        roles = self._roles_by_permission.get(permission, set())
        for bucket, here in self._covering(subject, scope):
            for values in bucket.lines:
                # A tree grant needs a tree line (at the scope or above it); an exact one, any
                # line at the scope or a tree line above it.
                covers_scope = values[3] == TREE or (mode != TREE and here)
                if (
                    covers_scope
                    and values[1] in roles
                    and values[4] in (ANY, resource_type)
                    and values[5] in (ANY, resource_id)
                ):
                    return True
        return False

    def permissions_of(self, subject: str, scope: str) -> set[str]:
        """Every permission the subject holds at `scope` on some resource (any type or id)."""
        permissions: set[str] = set()
        for bucket, here in self._covering(subject, scope):
            for role in bucket.maps[0 if here else 1]:
                permissions |= self._permissions_by_role.get(role, set())
        return permissions


def _union(mine: dict[str, Resources], theirs: dict[str, Resources]) -> dict[str, Resources]:
    union = dict(mine)
    for role, resources in theirs.items():
        union[role] = union[role] | resources if role in union else resources
    return union


def _discard(index: dict[str, set[str]], key: str, value: str) -> None:
    """Remove a value from an index entry, dropping the entry once empty (no leaks on churn)."""
    values = index[key]
    values.discard(value)
    if not values:
        del index[key]

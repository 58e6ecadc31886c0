"""A Harness-shaped policy set as Casbin policy lines, and realistic check requests against it.

Deterministic for a (size, seed): the same lines and requests in every process, so that a
benchmark's subprocesses can regenerate them instead of receiving them.

Each account is generated from the same template, with random choices (about 10k lines each):
organizations with projects; users; user groups at every level, with members; custom roles with
permission sets at every level (the managed roles' lines come once, from
`entity_lines.managed_role_lines()`); resource groups at every level (own scope or narrowed to
listed descendants, with or without child scopes, all resources or type filters with or without
identifiers); and role bindings of users, groups and service accounts, each expanded into p lines
by `entity_lines.binding_lines` exactly as the service does. Accounts are added until the target
size is reached; the last one stops at a binding boundary.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from services.authz.domain import catalog, entity_lines
from services.authz.domain.entities import (
    PrincipalRef,
    ResourceFilter,
    ResourceGroup,
    Role,
    RoleBinding,
    UserGroup,
)
from services.authz.domain.lines import ANY, TREE, CheckRequest, PolicyLine

MANAGED_SOURCE = "managed"  # the tag the service stores the managed roles' lines under

ORGS = 4
PROJECTS_PER_ORG = 10
USERS = 500
SERVICE_ACCOUNTS_PER_SCOPE = 1  # in every organization and project
GROUPS = {"account": 8, "organization": 3, "project": 2}
GROUP_MEMBERS = {"account": (10, 50), "organization": (5, 25), "project": (3, 10)}
# A group bound in a binding is defined in the binding's scope or an ancestor: how likely each,
# from the nearest (the binding's own scope) up.
GROUP_NEAREST_FIRST = (0.6, 0.25, 0.15)
CUSTOM_ROLES = {"account": 6, "organization": 2, "project": 1}
CUSTOM_RESOURCE_GROUPS = {"account": 3, "organization": 2, "project": 3}
BINDINGS = {"account": 15, "organization": 20, "project": 60}
RESOURCE_IDS_PER_TYPE = 40

# The resource types resource-group filters select, and requests ask about.
FILTER_TYPES = ("PIPELINE", "SECRET", "CONNECTOR", "ENVIRONMENT", "SERVICE", "PROJECT", "USERGROUP")
MANAGED_ROLES = {
    "account": ("_account_admin", "_account_viewer"),
    "organization": ("_organization_admin", "_organization_viewer"),
    "project": ("_project_admin", "_project_viewer", "_pipeline_executor"),
}
MANAGED_RESOURCE_GROUPS = {
    "account": ("_all_resources_including_child_scopes", "_all_account_level_resources"),
    "organization": ("_all_resources_including_child_scopes", "_all_organization_level_resources"),
    "project": ("_all_resources_including_child_scopes", "_all_project_level_resources"),
}
PERMISSIONS = tuple(p.name for p in catalog.SEEDED_PERMISSIONS)
LEVELS = ("account", "organization", "project")


def resource_id(rtype: str, n: int) -> str:
    return f"{rtype.lower()}{n}"


@dataclass
class PolicySet:
    """The lines (with the entity each comes from, as `source` tags) and what requests need."""

    lines: list[PolicyLine] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # parallel to lines
    accounts: list[str] = field(default_factory=list)

    def add(self, source: str, new: list[PolicyLine]) -> None:
        self.lines.extend(new)
        self.sources.extend([source] * len(new))


class _Shared:
    """One string object per distinct value: a million lines share their scopes and ids."""

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        return self._strings.setdefault(value, value)


class _Account:
    """The entities of one account, generated in dependency order."""

    def __init__(self, name: str, rng: random.Random, shared: _Shared) -> None:
        self.name = name
        self.rng = rng
        self.shared = shared
        self.orgs = [shared(f"{name}/org{o}") for o in range(ORGS)]
        self.projects = {
            org: [shared(f"{org}/proj{p}") for p in range(PROJECTS_PER_ORG)] for org in self.orgs
        }
        self.users = [f"user{u:04d}" for u in range(USERS)]
        self.groups: dict[str, list[str]] = defaultdict(list)  # scope -> group ids defined there
        self.service_accounts: dict[str, list[str]] = defaultdict(list)
        self.roles: dict[str, list[str]] = defaultdict(list)  # scope -> custom role ids
        self.resource_groups: dict[str, dict[str, ResourceGroup]] = defaultdict(dict)

    def scopes(self) -> Iterator[tuple[str, str]]:
        """(level, scope) for the account, its organizations and their projects."""
        yield "account", self.name
        for org in self.orgs:
            yield "organization", org
            for project in self.projects[org]:
                yield "project", project

    def descendants(self, scope: str) -> list[str]:
        if scope == self.name:
            return [*self.orgs, *(p for org in self.orgs for p in self.projects[org])]
        return list(self.projects.get(scope, ()))

    def ancestors_and_self(self, scope: str) -> list[str]:
        parts = scope.split("/")
        return [self.shared("/".join(parts[:i])) for i in range(len(parts), 0, -1)]

    def definitions(self) -> Iterator[tuple[str, list[PolicyLine]]]:
        """(source, lines) of the roles and groups, and the bare entities bindings refer to."""
        rng = self.rng
        for level, scope in self.scopes():
            for g in range(GROUPS[level]):
                low, high = GROUP_MEMBERS[level]
                members = tuple(sorted(rng.sample(self.users, rng.randint(low, high))))
                group = UserGroup(scope, f"grp{g}", members=members)
                self.groups[scope].append(group.identifier)
                yield (
                    entity_lines.source_of("user_group", scope, group.identifier),
                    entity_lines.group_lines(group),
                )
            if level != "account":
                for s in range(SERVICE_ACCOUNTS_PER_SCOPE):
                    self.service_accounts[scope].append(f"sa{s}")
            for r in range(CUSTOM_ROLES[level]):
                permissions = tuple(sorted(rng.sample(PERMISSIONS, rng.randint(3, 12))))
                role = Role(scope, f"role{r}", permissions=permissions)
                self.roles[scope].append(role.identifier)
                yield (
                    entity_lines.source_of("role", scope, role.identifier),
                    entity_lines.role_lines(role),
                )
            for name in MANAGED_RESOURCE_GROUPS[level]:
                found = catalog.managed_resource_group(name, scope)
                assert found is not None
                self.resource_groups[scope][name] = found
            for n in range(CUSTOM_RESOURCE_GROUPS[level]):
                group_ = self._resource_group(scope, f"rg{n}")
                self.resource_groups[scope][group_.identifier] = group_

    def _resource_group(self, scope: str, identifier: str) -> ResourceGroup:
        rng = self.rng
        below = self.descendants(scope)
        included: tuple[str, ...] = ()
        if below and rng.random() < 0.25:
            included = tuple(rng.sample(below, min(len(below), rng.randint(1, 3))))
        tree = bool(below) and rng.random() < 0.5
        if rng.random() < 0.2:
            return ResourceGroup(
                scope,
                identifier,
                include_child_scopes=tree,
                included_scopes=included,
                include_all_resources=True,
            )
        filters = []
        for rtype in rng.sample(FILTER_TYPES, rng.randint(1, 3)):
            ids: tuple[str, ...] = ()
            if rng.random() < 0.6:
                picked = rng.sample(range(RESOURCE_IDS_PER_TYPE), rng.randint(1, 6))
                ids = tuple(self.shared(resource_id(rtype, i)) for i in sorted(picked))
            filters.append(ResourceFilter(rtype, ids))
        return ResourceGroup(
            scope,
            identifier,
            include_child_scopes=tree,
            included_scopes=included,
            resource_filters=tuple(filters),
        )

    def bindings(self) -> Iterator[tuple[str, list[PolicyLine]]]:
        rng = self.rng
        for level, scope in self.scopes():
            up = self.ancestors_and_self(scope)
            for b in range(BINDINGS[level]):
                draw = rng.random()
                sas = [(s, a) for s in up for a in self.service_accounts[s]]
                if draw < 0.35:
                    where = rng.choices(up, GROUP_NEAREST_FIRST[: len(up)])[0]
                    principal = PrincipalRef("USER_GROUP", rng.choice(self.groups[where]), where)
                elif draw < 0.45 and sas:
                    where, ident = rng.choice(sas)
                    principal = PrincipalRef("SERVICE_ACCOUNT", ident, where)
                else:
                    principal = PrincipalRef("USER", rng.choice(self.users), self.name)
                custom = [(s, r) for s in up for r in self.roles[s]]
                if custom and rng.random() < 0.5:
                    role_scope, role = rng.choice(custom)
                else:
                    role_scope, role = scope, rng.choice(MANAGED_ROLES[level])
                group = self.resource_groups[scope][rng.choice(list(self.resource_groups[scope]))]
                binding = RoleBinding(
                    scope,
                    f"b{b}",
                    principal,
                    role_scope,
                    role,
                    group.identifier,
                    disabled=rng.random() < 0.03,
                )
                yield (
                    entity_lines.source_of("role_binding", scope, binding.identifier),
                    entity_lines.binding_lines(binding, group),
                )


def generate(size: int, seed: int = 1) -> PolicySet:
    """About `size` lines (managed roles included): accounts are added until it is reached."""
    rng = random.Random(seed)
    shared = _Shared()
    policy = PolicySet()
    policy.add(MANAGED_SOURCE, entity_lines.managed_role_lines())
    n = 0
    while len(policy.lines) < size:
        account = _Account(f"acct{n:04d}", rng, shared)
        policy.accounts.append(account.name)
        for source, new in account.definitions():
            policy.add(source, new)
        for source, new in account.bindings():
            if len(policy.lines) >= size:
                break
            policy.add(source, new)
        n += 1
    return policy


@dataclass
class _Facts:
    """What the request generator reads off the lines."""

    grants: list[tuple[str, ...]] = field(default_factory=list)
    members: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    permissions: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    subjects: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    scopes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def _facts(policy: PolicySet) -> _Facts:
    facts = _Facts()
    subjects: dict[str, set[str]] = defaultdict(set)
    scopes: dict[str, set[str]] = defaultdict(set)
    for ptype, values in policy.lines:
        if ptype == "p":
            facts.grants.append(values)
            scope = values[2]
            parts = scope.split("/")
            for i in range(1, len(parts) + 1):
                scopes[parts[0]].add("/".join(parts[:i]))
            if not values[0].startswith("group:"):
                subjects[parts[0]].add(values[0])
        elif ptype == "g":
            facts.members[values[1]].append(values[0])
            subjects[values[0].split(":", 1)[1].split("/", 1)[0]].add(values[0])
        else:
            facts.permissions[values[0]].append(values[1])
    facts.subjects = defaultdict(list, {a: sorted(s) for a, s in subjects.items()})
    facts.scopes = defaultdict(list, {a: sorted(s) for a, s in scopes.items()})
    return facts


def _subject_scope(subject: str) -> str:
    """Where a subject may be asked about: its account (users) or its own scope and below."""
    kind, _, rest = subject.partition(":")
    return rest.split("/", 1)[0] if kind == "user" else rest.rsplit("/", 1)[0]


def _random_request(rng: random.Random, facts: _Facts, account: str) -> CheckRequest:
    subject = rng.choice(facts.subjects[account])
    within = _subject_scope(subject)
    scopes = [s for s in facts.scopes[account] if s == within or s.startswith(within + "/")]
    scope = rng.choice(scopes or [within])
    permission = rng.choice(PERMISSIONS)
    rtype = catalog.resource_type_of(permission)
    rid = "" if rng.random() < 0.1 else resource_id(rtype, rng.randrange(RESOURCE_IDS_PER_TYPE))
    return CheckRequest(subject, scope, rtype, rid, permission)


def _granted_request(rng: random.Random, facts: _Facts) -> CheckRequest | None:
    """A request shaped after one p line (allowed unless the line's role lacks a fitting
    permission, the request lands in a sibling, or another identifier is picked)."""
    subject, role, scope, mode, rtype, rid, _ = rng.choice(facts.grants)
    if subject.startswith("group:"):
        members = facts.members.get(subject)
        if not members:
            return None
        subject = rng.choice(members)
    permissions = facts.permissions.get(role, [])
    fitting = [p for p in permissions if rtype == ANY or catalog.resource_type_of(p) == rtype]
    if not fitting:
        return None
    permission = rng.choice(fitting)
    request_type = catalog.resource_type_of(permission)
    account = scope.split("/", 1)[0]
    if mode == TREE and rng.random() < 0.5:
        below = [s for s in facts.scopes[account] if s.startswith(scope + "/")]
        if below:
            scope = rng.choice(below)
    if rid == ANY:
        draw = rng.random()
        request_id = (
            "" if draw < 0.15 else resource_id(request_type, rng.randrange(RESOURCE_IDS_PER_TYPE))
        )
    else:
        request_id = rid if rng.random() < 0.8 else resource_id(request_type, 0)
    if not (scope == _subject_scope(subject) or scope.startswith(_subject_scope(subject) + "/")):
        return None  # a service account asked about outside its scope: the API refuses that
    return CheckRequest(subject, scope, request_type, request_id, permission)


def requests(
    policy: PolicySet,
    n: int,
    seed: int = 2,
    accounts: list[str] | None = None,
    granted_share: float = 0.5,
) -> list[CheckRequest]:
    """Up to n distinct requests about subjects that exist: about `granted_share` shaped after a
    p line (mostly allowed), the rest random (mostly denied); about 10% without an identifier.
    `accounts`: only about these accounts (default: all)."""
    rng = random.Random(seed)
    facts = _facts(policy)
    if accounts is not None:
        keep = set(accounts)
        facts.grants = [g for g in facts.grants if g[2].split("/", 1)[0] in keep]
    pool = [a for a in (accounts or policy.accounts) if facts.subjects.get(a)]
    found: dict[CheckRequest, None] = {}
    for _ in range(n * 20):  # bounded: a small policy may have fewer distinct requests
        if len(found) >= n:
            break
        if rng.random() < granted_share and facts.grants:
            req = _granted_request(rng, facts)
            if req is None:
                continue
        else:
            req = _random_request(rng, facts, rng.choice(pool))
        found.setdefault(req, None)
    return list(found)


def account_scopes(account: str) -> list[str]:
    """Every scope of a generated account: itself, its organizations and their projects."""
    orgs = [f"{account}/org{o}" for o in range(ORGS)]
    return [account, *orgs, *(f"{org}/proj{p}" for org in orgs for p in range(PROJECTS_PER_ORG))]


def requests_about(subject: str, account: str, n: int, seed: int = 3) -> list[CheckRequest]:
    """Up to n distinct requests about one subject anywhere in an account (e.g. its admin)."""
    rng = random.Random(seed)
    scopes = account_scopes(account)
    found: dict[CheckRequest, None] = {}
    for _ in range(n * 20):
        if len(found) >= n:
            break
        permission = rng.choice(PERMISSIONS)
        rtype = catalog.resource_type_of(permission)
        rid = "" if rng.random() < 0.1 else resource_id(rtype, rng.randrange(RESOURCE_IDS_PER_TYPE))
        found.setdefault(CheckRequest(subject, rng.choice(scopes), rtype, rid, permission), None)
    return list(found)

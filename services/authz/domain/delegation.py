"""No escalation: a caller may grant only what it holds (DESIGN section 6).

A change that grants (a role binding, permissions added to a bound role, a resource group
widened under a binding, a member added to a bound group) grants each permission of a role over
each selector of a resource group (entity_lines.resource_group_selectors). The caller must hold
every such pair itself, as Kubernetes RBAC's escalate/bind check asks."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from services.authz.domain.lines import TREE
from services.authz.domain.policy_index import Selector

Grant = tuple[str, Selector]  # (permission, selector)
Holds = Callable[[str, Selector], bool]  # the caller's: (permission, selector) -> held?


def grants(permissions: Iterable[str], selectors: Iterable[Selector]) -> set[Grant]:
    chosen = list(selectors)
    return {(p, s) for p in permissions for s in chosen}


def missing(wanted: Iterable[Grant], holds: Holds) -> list[Grant]:
    """The grants the caller does not hold, sorted; empty when the change may go ahead."""
    return sorted(g for g in set(wanted) if not holds(*g))


def describe(grant: Grant) -> str:
    permission, (scope, mode, resource_type, resource_id) = grant
    below = " and below" if mode == TREE else ""
    return f"{permission} on {resource_type}/{resource_id} in {scope!r}{below}"

"""pycasbin's plain Enforcer over the model file: the reference for the fast evaluator.

The service does not answer checks through pycasbin (it scans every policy line per check, see
DESIGN.md section 2); this module exists so that tests and benchmarks can build the reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import casbin
from casbin.persist import Adapter

from services.authz.domain.lines import CheckRequest, PolicyLine, scope_covers

MODEL_PATH = Path(__file__).with_name("model.conf")

# The custom functions the model's matcher calls, by the name it uses.
FUNCTIONS = {"scopeCovers": scope_covers}


def register_functions(enforcer: Any) -> None:
    """Register the model's custom functions on any pycasbin enforcer (sync or async)."""
    for name, function in FUNCTIONS.items():
        enforcer.add_function(name, function)


def plain_enforcer(lines: Iterable[PolicyLine]) -> casbin.Enforcer:
    """A plain pycasbin Enforcer holding exactly `lines` (duplicates collapse, as in casbin_rule).

    The lines go in through an in-memory adapter's load_policy, the path pycasbin's own adapters
    use: adding them one by one through add_named_policy costs a list scan each (quadratic).
    """
    enforcer = casbin.Enforcer(str(MODEL_PATH), _MemoryAdapter(lines))
    register_functions(enforcer)
    return enforcer


def casbin_request(req: CheckRequest) -> tuple[str, ...]:
    """The request values in the order of the model's `r = sub, scope, rtype, rid, perm`."""
    return (req.subject, req.scope, req.resource_type, req.resource_id, req.permission)


class _MemoryAdapter(Adapter):  # type: ignore[misc]
    """Loads a fixed set of lines into a model; every write is a no-op (nothing to persist)."""

    def __init__(self, lines: Iterable[PolicyLine]) -> None:
        self._lines = list(dict.fromkeys(lines))

    def load_policy(self, model: Any) -> None:
        for ptype, values in self._lines:
            model.model[ptype[0]][ptype].policy.append(list(values))

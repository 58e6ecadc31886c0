"""The access explorer: may a principal do a permission in a scope (and why), its effective
permissions there, and a page per principal with its groups and bindings. Every answer is
authz's own, asked with the signed-in user's token (asking about another principal needs
core_access_check; listing groups and bindings their view permissions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response

from authz.v1 import authz_pb2 as a
from services.authz.domain.catalog import resource_type_of
from services.console.backends import bearer
from services.console.errors import failure
from services.console.web import console, render, session_of

PRINCIPAL_TYPES = {
    "USER": a.PRINCIPAL_TYPE_USER,
    "USER_GROUP": a.PRINCIPAL_TYPE_USER_GROUP,
    "SERVICE_ACCOUNT": a.PRINCIPAL_TYPE_SERVICE_ACCOUNT,
}
MAX_FIELD = 256
MAX_LIST_PAGES = 10  # of 1,000 entries per scope on the principal page


@dataclass
class Question:
    ptype: str = "USER"
    pid: str = ""
    pscope: str = ""  # where a group or service account is defined
    scope: str = ""
    permission: str = ""
    rtype: str = ""
    rid: str = ""

    @classmethod
    def from_request(cls, request: Request) -> Question:
        params = {
            k: request.query_params.get(k, "").strip()[:MAX_FIELD]
            for k in cls.__dataclass_fields__
            if k != "missing"
        }
        if params["ptype"] not in PRINCIPAL_TYPES:
            params["ptype"] = "USER"
        return cls(**params)

    def resource_type(self) -> str:
        """The type asked about; by default the permission's own (core_pipeline_execute:
        PIPELINE, the naming rule of DESIGN.md section 2), so that a resource is optional."""
        if self.rtype:
            return self.rtype
        try:
            return resource_type_of(self.permission)
        except ValueError:
            return ""  # authz names the field in its answer

    def principal(self) -> a.Principal:
        return a.Principal(type=PRINCIPAL_TYPES[self.ptype], identifier=self.pid, scope=self.pscope)


async def explorer(request: Request) -> Response:
    session = session_of(request)
    ask = Question.from_request(request)
    access, metadata = console(request).backends.access, bearer(session.token)
    context: dict[str, Any] = {
        "ask": ask,
        "types": list(PRINCIPAL_TYPES),
        "explain": None,
        "effective": None,
    }
    asked = bool(ask.pid or ask.scope or ask.permission)
    if asked:
        if ask.pid and ask.scope and ask.permission:
            check = a.CheckRequest(
                principal=ask.principal(),
                resource_scope=ask.scope,
                resource_type=ask.resource_type(),
                resource_identifier=ask.rid,
                permission=ask.permission,
            )
            try:
                context["explain"] = await access.Explain(check, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                context["explain_error"] = failure(exc)
        else:
            context["explain_error"] = "Enter a principal, a scope and a permission."
        if ask.pid and ask.scope:
            try:
                context["effective"] = await access.ListEffectivePermissions(
                    a.ListEffectivePermissionsRequest(principal=ask.principal(), scope=ask.scope),
                    metadata=metadata,
                )
            except grpc.aio.AioRpcError as exc:
                context["effective_error"] = failure(exc)
    return render(request, "access.html", title="Access explorer", asked=asked, **context)


def scope_chain(scope: str) -> list[str]:
    """The scope and its ancestors, the account first: where groups and bindings that reach
    the scope are defined."""
    parts = scope.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


async def listed(method: Any, scope: str, metadata: Any, attribute: str) -> list[Any]:
    items: list[Any] = []
    token = ""
    for _ in range(MAX_LIST_PAGES):
        reply = await method(
            a.ListRequest(scope=scope, page_size=1000, page_token=token), metadata=metadata
        )
        items += list(getattr(reply, attribute))
        token = reply.next_page_token
        if not token:
            break
    return items


def names(binding: a.RoleBinding, ask: Question, groups: list[tuple[str, a.UserGroup]]) -> bool:
    """Whether a binding's principal is the principal asked about or one of its groups. A
    group or service account is matched with the scope it is defined in (empty in a binding:
    the binding's own scope)."""
    p = binding.principal
    defined_in = p.scope or binding.scope
    if p.type == a.PRINCIPAL_TYPE_USER_GROUP and any(
        g.identifier == p.identifier and where == defined_in for where, g in groups
    ):
        return True
    if p.type != PRINCIPAL_TYPES[ask.ptype] or p.identifier != ask.pid:
        return False
    return ask.ptype == "USER" or not ask.pscope or ask.pscope == defined_in


async def principal_page(request: Request) -> Response:
    session = session_of(request)
    ask = Question.from_request(request)
    backends, metadata = console(request).backends, bearer(session.token)
    scope = ask.scope or session.account
    groups: list[tuple[str, a.UserGroup]] = []
    bindings: list[a.RoleBinding] = []
    errors: list[str] = []
    if ask.pid:
        for where in scope_chain(scope):
            try:
                if ask.ptype == "USER":
                    found = await listed(
                        backends.groups.ListUserGroups, where, metadata, "user_groups"
                    )
                    groups += [(where, g) for g in found if ask.pid in g.members]
                all_bindings = await listed(
                    backends.bindings.ListRoleBindings, where, metadata, "role_bindings"
                )
            except grpc.aio.AioRpcError as exc:
                errors.append(f"In {where}: {failure(exc)}")
                continue
            bindings += [b for b in all_bindings if names(b, ask, groups)]
    return render(
        request,
        "principal.html",
        title=f"Principal {ask.pid}",
        ask=ask,
        scope=scope,
        groups=groups,
        bindings=bindings,
        errors=errors,
        types=list(PRINCIPAL_TYPES),
    )

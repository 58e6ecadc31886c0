"""The RBAC entities the command line manages, declared as data: each kind's protobuf message,
its options (one per field) and its table columns. An entity travels as a dict in protobuf's
JSON mapping with the .proto field names: what `get -o yaml` prints and `--file` reads back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.cli.failures import usage

Entity = dict[str, Any]


class PrincipalKind(StrEnum):
    user = "user"
    group = "group"
    service_account = "service-account"

    @property
    def wire(self) -> str:
        return {
            "user": "PRINCIPAL_TYPE_USER",
            "group": "PRINCIPAL_TYPE_USER_GROUP",
            "service-account": "PRINCIPAL_TYPE_SERVICE_ACCOUNT",
        }[self.value]


@dataclass(frozen=True)
class Field:
    """One option: `name` is the Python parameter; `put` writes a given value into the entity."""

    name: str
    annotation: Any
    help: str
    put: Callable[[Entity, Any], None]
    decls: tuple[str, ...] = ()


def text(key: str, help: str) -> Field:
    def put(entity: Entity, value: Any) -> None:
        entity[key] = value

    return Field(key, str | None, help, put)


def texts(key: str, singular: str, help: str) -> Field:
    """A repeatable option; given at all, it replaces the whole list."""

    def put(entity: Entity, value: Any) -> None:
        entity[key] = list(value)

    return Field(singular, list[str] | None, help, put, (f"--{singular.replace('_', '-')}",))


def switch(key: str, on: str, off: str, help: str) -> Field:
    def put(entity: Entity, value: Any) -> None:
        entity[key] = bool(value)

    return Field(key, bool | None, help, put, (f"--{on}/--{off}",))


def principal_fields() -> tuple[Field, ...]:
    def put_type(entity: Entity, value: Any) -> None:
        entity.setdefault("principal", {})["type"] = PrincipalKind(value).wire

    def put_id(entity: Entity, value: Any) -> None:
        principal = entity.setdefault("principal", {})
        principal["identifier"] = value
        principal.setdefault("type", PrincipalKind.user.wire)  # kept when one is already set

    def put_scope(entity: Entity, value: Any) -> None:
        entity.setdefault("principal", {})["scope"] = value

    return (
        Field("principal_type", PrincipalKind | None, "user (default), group or service-account",
              put_type),
        Field("principal", str | None, "the principal's identifier", put_id),
        Field("principal_scope", str | None,
              "where the group or service account is defined (default: the binding's scope)",
              put_scope),
    )  # fmt: skip


def resource_filter(text: str) -> dict[str, Any]:
    """`PIPELINE` (every pipeline) or `PIPELINE=deploy,build`."""
    kind, _, names = text.partition("=")
    if not kind.strip():
        raise usage(f"--filter: {text!r} is not TYPE or TYPE=ID1,ID2")
    identifiers = [n.strip() for n in names.split(",") if n.strip()]
    return {"resource_type": kind.strip(), "identifiers": identifiers}


def filters_field() -> Field:
    def put(entity: Entity, value: Any) -> None:
        entity["resource_filters"] = [resource_filter(v) for v in value]

    return Field("filter", list[str] | None,
                 "a resource filter, TYPE (all of the type) or TYPE=ID1,ID2; repeatable", put,
                 ("--filter",))  # fmt: skip


@dataclass(frozen=True)
class Kind:
    command: str  # "roles"
    message: str  # "Role": the message, its service ("RoleService") and RPCs ("GetRole")
    snake: str  # "role": the field of the create request and of the response
    fields: tuple[Field, ...]
    columns: tuple[str, ...]
    example: str
    scope_key: str = "scope"  # users live in an account: "account"

    @property
    def service(self) -> str:
        return f"{self.message}Service"

    @property
    def plural(self) -> str:
        return f"{self.snake}s"


NAME = text("name", "the display name")
KINDS = (
    Kind("users", "User", "user",
         (text("email", "the e-mail address"), text("display_name", "the display name")),
         ("identifier", "email", "display_name"),
         "authz-audit users create alice --email alice@example.com", scope_key="account"),
    Kind("groups", "UserGroup", "user_group",
         (NAME, texts("members", "member", "a member's user identifier; repeatable")),
         ("scope", "identifier", "name", "members"),
         "authz-audit groups create devs --scope acme --member alice --member bob"),
    Kind("service-accounts", "ServiceAccount", "service_account",
         (NAME, text("email", "the e-mail address")),
         ("scope", "identifier", "name", "email"),
         "authz-audit service-accounts create ci --scope acme/org --name 'CI bot'"),
    Kind("roles", "Role", "role",
         (NAME, texts("permissions", "permission", "a permission, e.g. core_pipeline_view; "
                      "repeatable")),
         ("scope", "identifier", "name", "permissions", "managed"),
         "authz-audit roles create viewer --scope acme --permission core_pipeline_view"),
    Kind("resource-groups", "ResourceGroup", "resource_group",
         (NAME,
          switch("include_child_scopes", "include-child-scopes", "exclude-child-scopes",
                 "whether the group also covers the scopes below its own"),
          texts("included_scopes", "included_scope", "narrow to this descendant scope; "
                "repeatable"),
          switch("include_all_resources", "all-resources", "no-all-resources",
                 "every resource, instead of the filters"),
          filters_field()),
         ("scope", "identifier", "name", "include_child_scopes", "include_all_resources",
          "resource_filters", "managed"),
         "authz-audit resource-groups create deploys --scope acme/org --include-child-scopes "
         "--filter PIPELINE=deploy"),
    Kind("bindings", "RoleBinding", "role_binding",
         (*principal_fields(),
          text("role", "the role's identifier"),
          text("role_scope", "where the role is defined (default: the binding's scope)"),
          text("resource_group", "the resource group's identifier (in the binding's scope)"),
          switch("disabled", "disabled", "enabled", "a disabled binding grants nothing")),
         ("scope", "identifier", "principal.type", "principal.identifier", "role",
          "resource_group", "disabled"),
         "authz-audit bindings create b1 --scope acme/o/p --principal alice "
         "--role _project_viewer --resource-group _all_project_level_resources"),
)  # fmt: skip

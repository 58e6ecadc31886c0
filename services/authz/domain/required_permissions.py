"""Which permission each management operation needs, at which scope: the service's own API is
authorized by the RBAC model it serves."""

from __future__ import annotations

from typing import Literal

Verb = Literal["read", "write", "delete"]

# (kind, verb) -> permission; None: any authenticated caller may.
PERMISSIONS: dict[tuple[str, Verb], str | None] = {
    ("user", "read"): "core_user_view",
    ("user", "write"): "core_user_manage",
    ("user", "delete"): "core_user_manage",
    ("user_group", "read"): "core_usergroup_view",
    ("user_group", "write"): "core_usergroup_manage",
    ("user_group", "delete"): "core_usergroup_manage",
    ("service_account", "read"): "core_serviceaccount_view",
    ("service_account", "write"): "core_serviceaccount_edit",
    ("service_account", "delete"): "core_serviceaccount_delete",
    ("role", "read"): "core_role_view",
    ("role", "write"): "core_role_edit",
    ("role", "delete"): "core_role_delete",
    ("resource_group", "read"): "core_resourcegroup_view",
    ("resource_group", "write"): "core_resourcegroup_edit",
    ("resource_group", "delete"): "core_resourcegroup_delete",
    ("role_binding", "read"): "core_rolebinding_view",
    ("role_binding", "write"): "core_rolebinding_manage",
    ("role_binding", "delete"): "core_rolebinding_manage",
    ("governance_policy", "read"): "core_governancepolicy_view",
    ("governance_policy", "write"): "core_governancepolicy_edit",
    ("governance_policy", "delete"): "core_governancepolicy_delete",
    ("policy_set", "read"): "core_governancepolicy_view",
    ("policy_set", "write"): "core_governancepolicy_edit",
    ("policy_set", "delete"): "core_governancepolicy_delete",
    ("permission", "read"): None,
    ("permission", "write"): "core_permission_manage",
    ("permission", "delete"): "core_permission_manage",
}

# Asking Check about a principal other than oneself.
CHECK_FOR_OTHERS = "core_access_check"
# Managing the API keys of a service account (a user manages its own keys).
SERVICE_ACCOUNT_KEYS = "core_serviceaccount_manageapikey"
USER_KEYS = "core_user_manage"

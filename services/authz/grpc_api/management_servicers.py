"""Thin CRUD handlers for the management services: proto in, command, proto out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import grpc

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from libs.runtime.call_origin import Network
from services.authz.authentication import Authenticator
from services.authz.grpc_api import converters
from services.authz.grpc_api.call_info import call_info
from services.authz.grpc_api.errors import authenticated
from services.authz.management import AtRevision, Management

Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class Resource:
    """How one entity kind appears in the API."""

    kind: str  # domain kind, e.g. "user_group"
    noun: str  # RPC noun, e.g. "UserGroup"
    field: str  # message field, e.g. "user_group"
    from_proto: Callable[[Any], Any]
    to_proto: Callable[[Any], Any]
    response: type[Any]
    list_response: type[Any]
    plural_noun: str = ""  # when not noun + "s"
    plural_field: str = ""  # when not field + "s"


RESOURCES = [
    Resource("user", "User", "user", converters.user_from, converters.user_to,
             pb.UserResponse, pb.ListUsersResponse),
    Resource("user_group", "UserGroup", "user_group", converters.user_group_from,
             converters.user_group_to, pb.UserGroupResponse, pb.ListUserGroupsResponse),
    Resource("service_account", "ServiceAccount", "service_account",
             converters.service_account_from, converters.service_account_to,
             pb.ServiceAccountResponse, pb.ListServiceAccountsResponse),
    Resource("role", "Role", "role", converters.role_from, converters.role_to,
             pb.RoleResponse, pb.ListRolesResponse),
    Resource("resource_group", "ResourceGroup", "resource_group",
             converters.resource_group_from, converters.resource_group_to,
             pb.ResourceGroupResponse, pb.ListResourceGroupsResponse),
    Resource("role_binding", "RoleBinding", "role_binding", converters.role_binding_from,
             converters.role_binding_to, pb.RoleBindingResponse, pb.ListRoleBindingsResponse),
    Resource("permission", "Permission", "permission", converters.permission_from,
             converters.permission_to, pb.PermissionResponse, pb.ListPermissionsResponse),
]  # fmt: skip


class Crud:
    """Create / Get / Update / Delete / List for one resource."""

    def __init__(self, management: Management, resource: Resource) -> None:
        self.management = management
        self.resource = resource

    def respond(self, result: AtRevision) -> Any:
        return self.resource.response(
            **{
                self.resource.field: self.resource.to_proto(result.stored),
                "revision": result.revision,
            }
        )

    async def create(self, request: Any, context: Context) -> Any:
        entity = self.resource.from_proto(getattr(request, self.resource.field))
        return self.respond(
            await self.management.create(entity, call_info(context), request.request_id)
        )

    async def get(self, request: pb.GetRequest, context: Context) -> Any:
        result = await self.management.get(
            self.resource.kind, request.scope, request.identifier, call_info(context)
        )
        return self.respond(result)

    async def update(self, request: Any, context: Context) -> Any:
        result = await self.management.update(
            self.resource.from_proto(request), request.etag, call_info(context)
        )
        return self.respond(result)

    async def delete(self, request: pb.DeleteRequest, context: Context) -> pb.DeleteResponse:
        revision = await self.management.delete(
            self.resource.kind,
            request.scope,
            request.identifier,
            call_info(context),
            request.etag,
            request.cascade,
        )
        return pb.DeleteResponse(revision=revision)

    async def list(self, request: pb.ListRequest, context: Context) -> Any:
        items, token = await self.management.list(
            self.resource.kind,
            request.scope,
            request.page_size,
            request.page_token,
            call_info(context),
        )
        return self.resource.list_response(
            **{
                (self.resource.plural_field or self.resource.field + "s"): [
                    self.resource.to_proto(s) for s in items
                ],
                "next_page_token": token,
            }
        )

    def bind(self, servicer: object) -> None:
        """Expose the handlers under the RPC names gRPC looks up (CreateRole, ListRoles, ...)."""
        noun = self.resource.noun
        for name, handler in (
            (f"Create{noun}", self.create),
            (f"Get{noun}", self.get),
            (f"Update{noun}", self.update),
            (f"Delete{noun}", self.delete),
            (f"List{self.resource.plural_noun or noun + 's'}", self.list),
        ):
            setattr(servicer, name, handler)


class UserGroupMembers:
    def __init__(self, management: Management, crud: Crud) -> None:
        self.management = management
        self.crud = crud

    async def _change(self, request: pb.MemberRequest, context: Context, *, add: bool) -> Any:
        result = await self.management.change_members(
            request.scope,
            request.identifier,
            request.user,
            request.etag,
            call_info(context),
            add=add,
        )
        return self.crud.respond(result)

    async def AddMember(self, request: pb.MemberRequest, context: Context) -> Any:
        return await self._change(request, context, add=True)

    async def RemoveMember(self, request: pb.MemberRequest, context: Context) -> Any:
        return await self._change(request, context, add=False)


ADDERS: dict[str, Callable[[Any, grpc.aio.Server], None]] = {
    "user": pb_grpc.add_UserServiceServicer_to_server,
    "user_group": pb_grpc.add_UserGroupServiceServicer_to_server,
    "service_account": pb_grpc.add_ServiceAccountServiceServicer_to_server,
    "role": pb_grpc.add_RoleServiceServicer_to_server,
    "resource_group": pb_grpc.add_ResourceGroupServiceServicer_to_server,
    "role_binding": pb_grpc.add_RoleBindingServiceServicer_to_server,
    "permission": pb_grpc.add_PermissionServiceServicer_to_server,
}


def add_management_services(
    server: grpc.aio.Server,
    management: Management,
    authenticator: Authenticator,
    trusted_proxies: tuple[Network, ...] = (),
) -> list[str]:
    """Register every management service, authenticated; return their full names (reflection)."""
    names = []
    for resource in RESOURCES:
        crud = Crud(management, resource)
        servicer: object = (
            UserGroupMembers(management, crud)
            if resource.kind == "user_group"
            else SimpleNamespace()
        )
        crud.bind(servicer)
        service = f"{resource.noun}Service"
        wrapped = authenticated(servicer, service, authenticator, trusted_proxies)
        ADDERS[resource.kind](wrapped, server)
        names.append(pb.DESCRIPTOR.services_by_name[service].full_name)
    return names

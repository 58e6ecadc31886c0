"""Thin handlers of the InvitationService (proto/authz/v1/invitations.proto) and its converters.
AcceptInvitation is the one public RPC (no bearer token): see `register`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import grpc

from authz.v1 import authz_pb2 as authz_pb
from authz.v1 import invitations_pb2 as pb
from authz.v1 import invitations_pb2_grpc as pb_grpc
from libs.runtime.call_origin import Network
from services.authz.authentication import Authenticator
from services.authz.domain.errors import InvalidArgument
from services.authz.domain.invitations import (
    STATES,
    GroupRef,
    Invitation,
    InviteRequest,
    State,
    state_at,
)
from services.authz.grpc_api.call_info import call_info
from services.authz.grpc_api.converters import api_key_to, caller_principal_type, user_to
from services.authz.grpc_api.errors import authenticated
from services.authz.invitations import Invitations, Written

Context = grpc.aio.ServicerContext[Any, Any]
SERVICE = "InvitationService"
PUBLIC = ("AcceptInvitation",)  # the secret is the credential

_STATE_NUMBERS: dict[State, int] = {
    "PENDING": pb.INVITATION_STATE_PENDING,
    "ACCEPTED": pb.INVITATION_STATE_ACCEPTED,
    "REVOKED": pb.INVITATION_STATE_REVOKED,
    "EXPIRED": pb.INVITATION_STATE_EXPIRED,
}
_STATES_BY_NUMBER = {number: name for name, number in _STATE_NUMBERS.items()}


def states_from(numbers: Any) -> tuple[State, ...]:
    states = []
    for number in numbers:
        name = _STATES_BY_NUMBER.get(number)
        if name is None:
            raise InvalidArgument("states", f"unknown state {number}: give {', '.join(STATES)}")
        states.append(name)
    return tuple(states)


def invitation_to(invitation: Invitation, now: datetime) -> pb.Invitation:
    inviter = invitation.inviter
    message = pb.Invitation(
        account=invitation.account,
        user=invitation.user,
        email=invitation.email,
        display_name=invitation.display_name,
        user_groups=[
            pb.GroupRef(scope=g.scope, identifier=g.identifier) for g in invitation.user_groups
        ],
        inviter=authz_pb.Principal(
            type=caller_principal_type(inviter.type),
            identifier=inviter.identifier,
            scope=inviter.scope,
        ),
        state=cast(Any, _STATE_NUMBERS[state_at(invitation, now)]),
        sends=invitation.sends,
    )
    message.created_at.FromDatetime(invitation.created_at.astimezone(UTC))
    message.expires_at.FromDatetime(invitation.expires_at.astimezone(UTC))
    return message


class InvitationServicer(pb_grpc.InvitationServiceServicer):
    def __init__(self, invitations: Invitations) -> None:
        self.invitations = invitations

    def _respond(self, written: Written) -> pb.InvitationResponse:
        now = self.invitations.clock()
        return pb.InvitationResponse(
            invitation=invitation_to(written.invitation, now), revision=written.revision
        )

    async def InviteUser(self, request: pb.InviteUserRequest, context: Context) -> Any:
        invite = InviteRequest(
            request.account,
            request.user,
            request.email,
            request.display_name,
            tuple(GroupRef(g.scope, g.identifier) for g in request.user_groups),
        )
        written = await self.invitations.invite(invite, call_info(context), request.request_id)
        return self._respond(written)

    async def ResendInvitation(self, request: pb.InvitationRequest, context: Context) -> Any:
        written = await self.invitations.resend(request.account, request.user, call_info(context))
        return self._respond(written)

    async def RevokeInvitation(self, request: pb.InvitationRequest, context: Context) -> Any:
        written = await self.invitations.revoke(request.account, request.user, call_info(context))
        return self._respond(written)

    async def ListInvitations(self, request: pb.ListInvitationsRequest, context: Context) -> Any:
        rows, token, now = await self.invitations.list(
            request.account,
            states_from(request.states),
            request.page_size,
            request.page_token,
            call_info(context),
        )
        return pb.ListInvitationsResponse(
            invitations=[invitation_to(r, now) for r in rows], next_page_token=token
        )

    async def AcceptInvitation(self, request: pb.AcceptInvitationRequest, context: Context) -> Any:
        accepted = await self.invitations.accept(
            request.secret, request.account, call_info(context)
        )
        return pb.AcceptInvitationResponse(
            user=user_to(accepted.user),
            api_key=api_key_to(accepted.api_key),
            token=accepted.token,
            revision=accepted.revision,
        )


def register(
    server: grpc.aio.Server,
    invitations: Invitations,
    authenticator: Authenticator,
    trusted_proxies: tuple[Network, ...] = (),
) -> str:
    """Add the service: every RPC authenticated but AcceptInvitation; return its full name."""
    servicer = authenticated(
        InvitationServicer(invitations),
        SERVICE,
        authenticator,
        trusted_proxies,
        proto_file=pb.DESCRIPTOR,
        public=PUBLIC,
    )
    pb_grpc.add_InvitationServiceServicer_to_server(servicer, server)
    return str(pb.DESCRIPTOR.services_by_name[SERVICE].full_name)

"""Thin handlers of the ApiKeyService."""

from __future__ import annotations

from typing import Any

import grpc

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from services.authz.api_keys import ApiKeys, IssuedToken
from services.authz.domain.validation import page_size
from services.authz.grpc_api.call_info import call_info
from services.authz.grpc_api.converters import (
    api_key_from,
    api_key_to,
    principal_from,
    timestamp_or_none,
)
from services.authz.management import decode_page_token, encode_page_token

Context = grpc.aio.ServicerContext[Any, Any]


def issued(result: IssuedToken) -> pb.ApiKeyTokenResponse:
    return pb.ApiKeyTokenResponse(
        api_key=api_key_to(result.key.stored),
        token=result.token,
        revision=result.key.revision,
    )


class ApiKeyServicer(pb_grpc.ApiKeyServiceServicer):
    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Context
    ) -> pb.ApiKeyTokenResponse:
        key = api_key_from(request.api_key)
        expires_at = timestamp_or_none(request.api_key, "expires_at")
        return issued(await self.keys.create(key, call_info(context), expires_at))

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Context
    ) -> pb.ListApiKeysResponse:
        size = page_size(request.page_size)
        listing = f"api_key:{request.owner.identifier}"
        after = decode_page_token(request.page_token, listing, request.scope)
        keys = await self.keys.list(
            principal_from(request.owner, "owner"), request.scope, call_info(context)
        )
        page = [k for k in keys if k.entity.identifier > after][: size + 1]
        token = ""
        if len(page) > size:
            page = page[:size]
            token = encode_page_token(listing, request.scope, page[-1].entity.identifier)
        return pb.ListApiKeysResponse(api_keys=[api_key_to(k) for k in page], next_page_token=token)

    async def RotateApiKey(
        self, request: pb.RotateApiKeyRequest, context: Context
    ) -> pb.ApiKeyTokenResponse:
        expires_at = timestamp_or_none(request, "expires_at")
        return issued(
            await self.keys.rotate(
                request.scope, request.identifier, expires_at, call_info(context)
            )
        )

    async def RevokeApiKey(self, request: pb.DeleteRequest, context: Context) -> pb.ApiKeyResponse:
        result = await self.keys.revoke(request.scope, request.identifier, call_info(context))
        return pb.ApiKeyResponse(api_key=api_key_to(result.stored), revision=result.revision)

"""Deleting a principal revokes its tokens: at once in the replica that deleted it, within the
token cache time in the others, and for good (a principal recreated under the same identifier
does not inherit them)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from services.authz.server import running_server
from tests.authz.clients import Authz, connect, create_user, settings_for, user_token
from tests.security.attackers import status_of

pytestmark = pytest.mark.integration


async def whoami(client: Authz) -> grpc.StatusCode:
    return await status_of(client.access.WhoAmI(pb.WhoAmIRequest()))


async def test_deleting_a_user_revokes_its_tokens_everywhere_for_good(
    authz: Authz, database_url: str
) -> None:
    await create_user(authz, "a", "leaver")
    token = await user_token(authz.server, "a", "leaver")
    here = await connect(authz.server, token)
    async with running_server(settings_for(database_url, token_cache_s=0.5)) as other:
        there = await connect(other, token)
        assert await whoami(here) == grpc.StatusCode.OK
        assert await whoami(there) == grpc.StatusCode.OK  # now cached in the other replica

        await authz.users.DeleteUser(pb.DeleteRequest(scope="a", identifier="leaver"))
        assert await whoami(here) == grpc.StatusCode.UNAUTHENTICATED
        for _ in range(100):  # the other replica asks the store again after its cache time
            if await whoami(there) == grpc.StatusCode.UNAUTHENTICATED:
                break
            await asyncio.sleep(0.1)
        assert await whoami(there) == grpc.StatusCode.UNAUTHENTICATED

        await create_user(authz, "a", "leaver")  # someone new, under the same name
        await asyncio.sleep(0.6)
        assert await whoami(here) == grpc.StatusCode.UNAUTHENTICATED
        assert await whoami(there) == grpc.StatusCode.UNAUTHENTICATED
        keys = await authz.api_keys.ListApiKeys(
            pb.ListApiKeysRequest(
                owner=pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier="leaver"), scope="a"
            )
        )
        assert not keys.api_keys  # the old keys went with the old user
        await there.channel.close(None)
    await here.channel.close(None)


async def test_deleting_a_service_account_revokes_its_tokens(authz: Authz) -> None:
    bot = pb.ServiceAccount(scope="a/o", identifier="bot")
    await authz.service_accounts.CreateServiceAccount(
        pb.CreateServiceAccountRequest(service_account=bot)
    )
    owner = pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="bot", scope="a/o")
    issued = await authz.api_keys.CreateApiKey(
        pb.CreateApiKeyRequest(api_key=pb.ApiKey(scope="a/o", identifier="k", owner=owner))
    )
    as_bot = await connect(authz.server, issued.token)
    assert await whoami(as_bot) == grpc.StatusCode.OK
    await authz.service_accounts.DeleteServiceAccount(
        pb.DeleteRequest(scope="a/o", identifier="bot")
    )
    assert await whoami(as_bot) == grpc.StatusCode.UNAUTHENTICATED
    await authz.service_accounts.CreateServiceAccount(
        pb.CreateServiceAccountRequest(service_account=bot)
    )
    assert await whoami(as_bot) == grpc.StatusCode.UNAUTHENTICATED
    await as_bot.channel.close(None)

"""VerifyChain: one account's hash chain over a time range, checked for a caller who may view
the account and everything below it."""

from __future__ import annotations

from dataclasses import dataclass

from services.audit.chain_verification import Verification
from services.audit.domain import bounds
from services.audit.domain.chain import ChainKeys
from services.audit.domain.errors import InvalidArgument
from services.audit.domain.query import ScopeSelector
from services.audit.domain.scopes import check_scope
from services.audit.query_service.access import Caller, ViewAccess
from services.audit.store.query_store import QueryStore

Moment = tuple[int, int]  # (seconds, nanos) as given, checked here


@dataclass(frozen=True)
class ChainCheck:
    account: str
    start: Moment | None  # None: from the earliest
    end: Moment | None  # None: to the latest
    recorded_head_position: int = 0  # a head kept outside the database, if any
    recorded_head_hash: str = ""


class ChainChecks:
    def __init__(self, store: QueryStore, access: ViewAccess, keys: ChainKeys) -> None:
        self.store = store
        self.access = access
        self.keys = keys

    async def verify(self, caller: Caller, check: ChainCheck) -> Verification:
        viewer = await self.access.viewer(caller)
        account = check_scope(check.account, "account")
        if "/" in account:
            raise InvalidArgument("account", "give an account, not a deeper scope")
        start = bounds.moment(*check.start, "start") if check.start is not None else bounds.EARLIEST
        end = bounds.moment(*check.end, "end") if check.end is not None else bounds.LATEST
        if end <= start:
            raise InvalidArgument("end", "the range is empty or inverted")
        recorded = bounds.recorded_head(check.recorded_head_position, check.recorded_head_hash)
        await self.access.require_view(caller, viewer, [ScopeSelector(account, True)])
        return await self.store.verify_account(account, start, end, self.keys, recorded)

"""The OPA server's REST API, as governance uses it (aiohttp: measured about four times faster
per call than httpx here, and the call sits in the write path): push a module (OPA compiles it),
read its compiled AST, drop it, and evaluate several packages' `deny` in one round trip."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)


class OpaUnavailable(Exception):
    """OPA did not answer in time, or answered with a server error."""


class RegoRejected(Exception):
    """OPA's compiler refused a module: its messages, each with the line."""


def _compile_errors(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return str(body.get("message", "rejected by OPA")) if isinstance(body, dict) else ""
    parts = []
    for e in errors[:5]:
        where = e.get("location") or {}
        parts.append(
            f"{e.get('code', 'error')} at line {where.get('row', '?')},"
            f" column {where.get('col', '?')}: {e.get('message', '')}"
        )
    return "; ".join(parts)


@dataclass(frozen=True)
class Response:
    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class OpaClient:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """Created on first use, inside the running event loop (as aiohttp wants)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=aiohttp.TCPConnector(limit=20)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _send(self, method: str, path: str, **kwargs: Any) -> Response:
        try:
            async with self._http().request(method, self.url + path, **kwargs) as r:
                response = Response(r.status, await r.text())
        except (aiohttp.ClientError, TimeoutError) as e:
            raise OpaUnavailable(f"OPA at {self.url}: {type(e).__name__}") from None
        if response.status_code >= 500:
            log.warning("OPA answered %s: %s", response.status_code, response.text[:500])
            raise OpaUnavailable(f"OPA answered {response.status_code}")
        return response

    async def put_module(self, module_id: str, source: str) -> None:
        response = await self._send(
            "PUT",
            f"/v1/policies/{module_id}",
            data=source.encode(),
            headers={"content-type": "text/plain"},
        )
        if response.status_code == 400:
            raise RegoRejected(_compile_errors(response.json()))
        if response.status_code != 200:
            raise OpaUnavailable(f"OPA answered {response.status_code} to a policy push")

    async def module_ast(self, module_id: str) -> Any:
        response = await self._send("GET", f"/v1/policies/{module_id}")
        if response.status_code != 200:
            raise OpaUnavailable(f"OPA answered {response.status_code} to a policy read")
        return response.json()["result"]["ast"]

    async def delete_module(self, module_id: str) -> None:
        response = await self._send("DELETE", f"/v1/policies/{module_id}")
        if response.status_code not in (200, 404):
            raise OpaUnavailable(f"OPA answered {response.status_code} to a policy delete")

    async def deny_sets(self, packages: list[str], document: dict[str, Any]) -> list[Any] | None:
        """Each package's `deny`, in order; None when one of them is not in OPA (undefined)."""
        query = "; ".join(f"r{i} := data.{p}.deny" for i, p in enumerate(packages))
        response = await self._send("POST", "/v1/query", json={"query": query, "input": document})
        if response.status_code != 200:
            raise OpaUnavailable(f"OPA answered {response.status_code}: {response.text[:300]}")
        result = response.json().get("result") or []
        if not result:
            return None
        return [result[0].get(f"r{i}") for i in range(len(packages))]

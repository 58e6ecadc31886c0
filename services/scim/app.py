"""The SCIM HTTP API (Starlette): `/scim/v2/accounts/{account}/...`. Each request is
authenticated with the bearer token of an authz API key, then answered by resources.py on
behalf of that principal; every failure is a SCIM error document."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import scim2_models as scim
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from libs.runtime.call_origin import Network, client_ip
from services.authz.authentication import Authenticator
from services.authz.domain import scopes
from services.authz.domain.audit import CallInfo
from services.authz.domain.errors import AuthzError
from services.authz.management import Management
from services.scim import mapping
from services.scim.discovery import CONFIG, PROVIDER
from services.scim.errors import document, error, error_of
from services.scim.mapping import USER_MODEL
from services.scim.resources import GROUP, USER, Kind, Resources

PREFIX = "/scim/v2/accounts/{account}"
MEDIA_TYPE = "application/scim+json"
# The largest body read: a group of 1000 members (authz's bound) fits many times over.
MAX_BODY = 1024 * 1024
# The longest filter or PATCH path: what identity providers send is far shorter, and the
# library's matching costs (terms x users, or x members) on the event loop that gRPC shares.
MAX_FILTER = 1024
MODULE = "scim"

Handler = Callable[[Request, Resources], Awaitable[Response]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _error_response(exc: BaseException) -> Response:
    err = error_of(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if err.status == 401 else None
    return _json(document(err), err.status or 500, headers)


async def _body(request: Request) -> Any:
    """The JSON document of the request, read up to MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise error(413, f"the body exceeds {MAX_BODY} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise error(413, f"the body exceeds {MAX_BODY} bytes")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise error(400, "the body is not a JSON document", "invalidSyntax") from None
    return _bounded(document)


def _bounded(document: Any) -> Any:
    """The document, unless its filter or a PATCH operation's path is longer than MAX_FILTER
    (checked before the library parses them)."""
    if not isinstance(document, dict):
        return document
    found = document.get("filter")
    if isinstance(found, str) and len(found) > MAX_FILTER:
        raise error(400, f"the filter exceeds {MAX_FILTER} characters", "invalidFilter")
    operations = document.get("Operations")
    for operation in operations if isinstance(operations, list) else ():
        path = operation.get("path") if isinstance(operation, dict) else None
        if isinstance(path, str) and len(path) > MAX_FILTER:
            raise error(400, f"the path exceeds {MAX_FILTER} characters", "invalidPath")
    return document


def _query(request: Request) -> dict[str, str]:
    return _bounded(dict(request.query_params))  # type: ignore[no-any-return]


def _dump(resource: Any, context: scim.Context, request: Request, kind: Kind) -> dict[str, Any]:
    params = kind.response_parameters.model_validate(_query(request))
    body: dict[str, Any] = resource.model_dump(scim_ctx=context, response_parameters=params)
    return body


def _resource_response(
    resource: Any, context: scim.Context, request: Request, kind: Kind, status: int = 200
) -> Response:
    headers = {"ETag": resource.meta.version, "Location": resource.meta.location}
    return _json(_dump(resource, context, request, kind), status, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (no such path: 404, method not allowed: 405) as SCIM errors."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _error_response(error(status, "no such endpoint" if status == 404 else str(exc)))


class ScimApi:
    def __init__(
        self,
        management: Management,
        authenticator: Authenticator,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.management = management
        self.authenticator = authenticator
        self.trusted_proxies = trusted_proxies

    async def _resources(self, request: Request) -> Resources:
        """Authenticate first (401 whatever the path), then the account of the path."""
        caller = await self.authenticator.authenticate(request.headers.get("authorization", ""))
        account = request.path_params["account"]
        try:
            scopes.check_scope(account, "account")
        except AuthzError:
            raise error(404, "no such account") from None
        if scopes.level(account) != "account":
            raise error(404, "no such account")
        peer = request.client.host if request.client else ""
        forwarded = request.headers.get("x-forwarded-for", "")[:1024]
        call = CallInfo(
            caller=caller,
            client_ip=client_ip(peer, forwarded, self.trusted_proxies)[:64],
            user_agent=request.headers.get("user-agent", "")[:512],
            request_id=request.headers.get("x-request-id", "")[:128],
            module=MODULE,
        )
        base = str(request.base_url).rstrip("/") + PREFIX.format(account=account)
        return Resources(self.management, account, call, base)

    def route(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request, await self._resources(request))
            except Exception as exc:
                return _error_response(exc)

        return endpoint

    def app(self) -> Starlette:
        routes = [
            Route(f"{PREFIX}/ServiceProviderConfig", self.route(_config), methods=["GET"]),
            Route(f"{PREFIX}/.search", self.route(_root_search), methods=["POST"]),
            Route(f"{PREFIX}/ResourceTypes", self.route(_resource_types), methods=["GET"]),
            Route(f"{PREFIX}/ResourceTypes/{{id}}", self.route(_resource_type), methods=["GET"]),
            Route(f"{PREFIX}/Schemas", self.route(_schemas), methods=["GET"]),
            Route(f"{PREFIX}/Schemas/{{id}}", self.route(_schema), methods=["GET"]),
        ]
        for kind, endpoint in ((USER, mapping.USERS), (GROUP, mapping.GROUPS)):
            collection, item = _collection(kind), _item(kind)
            routes += [
                Route(f"{PREFIX}/{endpoint}/.search", self.route(_search(kind)), methods=["POST"]),
                Route(f"{PREFIX}/{endpoint}", self.route(collection), methods=["GET", "POST"]),
                Route(
                    f"{PREFIX}/{endpoint}/{{id}}",
                    self.route(item),
                    methods=["GET", "PUT", "PATCH", "DELETE"],
                ),
            ]
        return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


async def _listing_response(
    resources: Resources, kinds: tuple[Kind, ...], query: Any, listing_model: Any
) -> Response:
    page, total = await resources.search(kinds, query)
    listing = listing_model(
        total_results=total,
        start_index=max(query.start_index or 1, 1),
        items_per_page=len(page),
        resources=page,
    )
    return _json(
        listing.model_dump(scim_ctx=scim.Context.SEARCH_RESPONSE, response_parameters=query)
    )


def _collection(kind: Kind) -> Handler:
    async def handle(request: Request, resources: Resources) -> Response:
        if request.method == "POST":
            created = await resources.create(kind, await _body(request))
            return _resource_response(
                created, scim.Context.RESOURCE_CREATION_RESPONSE, request, kind, 201
            )
        query = kind.search_request.model_validate(
            _query(request), scim_ctx=scim.Context.SEARCH_REQUEST
        )
        return await _listing_response(resources, (kind,), query, kind.list_response)

    return handle


def _search(kind: Kind) -> Handler:
    """POST /.search: the query in a SearchRequest document (RFC 7644 section 3.4.3)."""

    async def handle(request: Request, resources: Resources) -> Response:
        query = kind.search_request.model_validate(
            await _body(request), scim_ctx=scim.Context.SEARCH_REQUEST
        )
        return await _listing_response(resources, (kind,), query, kind.list_response)

    return handle


_ANY_RESOURCE: Any = USER_MODEL | scim.Group
_ROOT_SEARCH: Any = scim.SearchRequest[_ANY_RESOURCE]
_ROOT_LISTING: Any = scim.ListResponse[_ANY_RESOURCE]


async def _root_search(request: Request, resources: Resources) -> Response:
    """POST /.search at the account's root: Users and Groups together."""
    query = _ROOT_SEARCH.model_validate(await _body(request), scim_ctx=scim.Context.SEARCH_REQUEST)
    return await _listing_response(resources, (USER, GROUP), query, _ROOT_LISTING)


def _item(kind: Kind) -> Handler:
    async def handle(request: Request, resources: Resources) -> Response:
        identifier = request.path_params["id"]
        etag = mapping.etag_from_header(request.headers.get("if-match"))
        if request.method == "GET":
            found = await resources.get(kind, identifier)
            if request.headers.get("if-none-match") == found.meta.version:
                return Response(status_code=304, headers={"ETag": found.meta.version})
            return _resource_response(found, scim.Context.RESOURCE_QUERY_RESPONSE, request, kind)
        if request.method == "DELETE":
            await resources.delete(kind, identifier, etag)
            return Response(status_code=204)
        body = await _body(request)
        if request.method == "PUT":
            replaced = await resources.replace(kind, identifier, body, etag)
            context = scim.Context.RESOURCE_REPLACEMENT_RESPONSE
            return _resource_response(replaced, context, request, kind)
        patched = await resources.patch(kind, identifier, body, etag)
        return _resource_response(patched, scim.Context.RESOURCE_PATCH_RESPONSE, request, kind)

    return handle


async def _config(request: Request, resources: Resources) -> Response:
    return _json(CONFIG.model_dump(scim_ctx=scim.Context.RESOURCE_QUERY_RESPONSE))


def _listing(items: Sequence[Any]) -> dict[str, Any]:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": [i.model_dump(scim_ctx=scim.Context.RESOURCE_QUERY_RESPONSE) for i in items],
    }
    return body


async def _resource_types(request: Request, resources: Resources) -> Response:
    return _json(_listing(PROVIDER.resource_types))


def _one_of(items: Sequence[Any], request: Request, what: str) -> Response:
    """The discovery document of the path's id among `items`, or 404."""
    wanted = request.path_params["id"]
    for found in items:
        if found.id == wanted:
            return _json(found.model_dump(scim_ctx=scim.Context.RESOURCE_QUERY_RESPONSE))
    raise error(404, f"no {what} {wanted!r}")


async def _resource_type(request: Request, resources: Resources) -> Response:
    return _one_of(PROVIDER.resource_types, request, "resource type")


async def _schemas(request: Request, resources: Resources) -> Response:
    return _json(_listing(PROVIDER.schemas))


async def _schema(request: Request, resources: Resources) -> Response:
    return _one_of(PROVIDER.schemas, request, "schema")

"""The console's ASGI application: routes, security headers, and what happens on the errors
every page shares (no session, an expired token, a forged form)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import grpc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from services.console import (
    pages_access,
    pages_event,
    pages_invitation,
    pages_signin,
    pages_trail,
)
from services.console.backends import Backends
from services.console.errors import in_words
from services.console.metrics import HttpMetrics
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.console.web import (
    HERE,
    SESSION_COOKIE,
    Console,
    CsrfRefused,
    SignInRequired,
    console,
    render,
    see_other,
)
from services.console.web_security import BodyLimit, SecurityHeaders

log = logging.getLogger(__name__)
STATUS = {
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


async def home(request: Request) -> Response:
    return see_other("/events")


async def health(request: Request) -> Response:
    """The process answers (it holds no connection of its own to check: the APIs have theirs)."""
    return PlainTextResponse("ok")


async def to_signin(request: Request, exc: Exception) -> Response:
    return see_other("/signin")


async def rpc_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, grpc.aio.AioRpcError)
    if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
        # The token expired or was revoked since sign-in: the session is over.
        console(request).sessions.end(request.cookies.get(SESSION_COOKIE))
        response = see_other("/signin?expired=1")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    if exc.code() not in STATUS:
        log.error("console: %s failed: %s %s", request.url.path, exc.code(), exc.details())
    return render(
        request, "error.html", STATUS.get(exc.code(), 500), title="Error", error=in_words(exc)
    )


async def csrf_refused(request: Request, exc: Exception) -> Response:
    return render(
        request,
        "error.html",
        403,
        title="Refused",
        error="This form was not sent from the console page (missing or wrong form token): "
        "nothing was changed.",
    )


def create_app(settings: ConsoleSettings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backends = Backends.open(settings)
        app.state.console = Console(
            settings,
            SessionStore(settings.session_idle_s, settings.session_max_s, settings.max_sessions),
            backends,
            SessionStore(
                pages_invitation.HANDOFF_S,
                pages_invitation.HANDOFF_S,
                pages_invitation.MAX_HANDOFFS,
            ),
        )
        try:
            yield
        finally:
            await backends.close()

    routes = [
        Route("/", home),
        Route("/health", health),
        Route("/signin", pages_signin.signin_form, methods=["GET"]),
        Route("/signin", pages_signin.signin, methods=["POST"]),
        Route("/signout", pages_signin.signout, methods=["POST"]),
        Route("/events", pages_trail.trail),
        Route("/events/export", pages_trail.export),
        Route("/events/{event_id}", pages_event.event_detail),
        Route("/chain", pages_trail.chain),
        Route("/filters", pages_trail.save_filter, methods=["POST"]),
        Route("/filters/{filter_id}/rename", pages_trail.rename_filter, methods=["POST"]),
        Route("/filters/{filter_id}/delete", pages_trail.delete_filter, methods=["POST"]),
        Route("/access", pages_access.explorer),
        Route("/principals", pages_access.principal_page),
        # Public, like /signin: the invitation's own secret is the credential (issue 20).
        Route("/invitations/accept", pages_invitation.accept_form, methods=["GET"]),
        Route("/invitations/accept", pages_invitation.accept, methods=["POST"]),
        Route("/invitations/signin", pages_invitation.signin_with_new_token, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(HttpMetrics),
            Middleware(SecurityHeaders, hsts=bool(settings.tls_cert_file)),
            Middleware(BodyLimit),
        ],
        exception_handlers={
            SignInRequired: to_signin,
            CsrfRefused: csrf_refused,
            grpc.aio.AioRpcError: rpc_failed,
        },
        lifespan=lifespan,
    )

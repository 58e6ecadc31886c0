"""Sign-in with an API key token, and sign-out. The token goes from the form into the
server-side session and nowhere else: not into a URL, a page, a script or a log."""

from __future__ import annotations

import secrets
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response

from authz.v1 import authz_pb2 as a
from services.console.backends import bearer
from services.console.errors import in_words
from services.console.web import (
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    console,
    render,
    see_other,
)
from services.console.web_security import csrf_ok

MAX_TOKEN = 512
PRINCIPAL_NAMES = {
    a.PRINCIPAL_TYPE_USER: "USER",
    a.PRINCIPAL_TYPE_SERVICE_ACCOUNT: "SERVICE_ACCOUNT",
}


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=console(request).settings.secure_cookies,
    )


def anonymous_form(request: Request, template: str, status_code: int, **context: Any) -> Response:
    """A form shown before any session (sign-in, accepting an invitation), with its
    double-submit CSRF token: the cookie's if the browser has one, else a new one."""
    csrf = request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, template, status_code, csrf=csrf, **context)
    set_cookie(request, response, SIGNIN_CSRF_COOKIE, csrf, 3600)
    return response


def signin_page(request: Request, message: str = "", status_code: int = 200) -> Response:
    if request.query_params.get("expired") and not message:
        message = "Your session ended or your token is no longer valid: sign in again."
    return anonymous_form(request, "signin.html", status_code, title="Sign in", message=message)


async def signin_form(request: Request) -> Response:
    return signin_page(request)


async def signin(request: Request) -> Response:
    form = await request.form()
    if not csrf_ok(request.cookies.get(SIGNIN_CSRF_COOKIE), form.get("csrf")):
        return signin_page(request, "The form expired: please try again.", 403)
    token = form.get("token")
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN:
        return signin_page(request, "Enter an API key token.", 400)
    token = token.strip()
    if not token.isprintable():
        return signin_page(request, "This token was not accepted.", 401)
    state = console(request)
    try:
        me = await state.backends.access.WhoAmI(a.WhoAmIRequest(), metadata=bearer(token))
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            return signin_page(
                request, "This token was not accepted: unknown, expired or revoked.", 401
            )
        return signin_page(request, in_words(exc), 503)
    kind = PRINCIPAL_NAMES.get(me.principal.type, "USER")
    old = request.cookies.get(SESSION_COOKIE)
    state.sessions.end(old)  # a new id at every sign-in: no session fixation
    session_id = state.sessions.create(
        token, kind, me.principal.identifier, me.principal.scope, me.email
    )
    response = see_other("/events")
    set_cookie(request, response, SESSION_COOKIE, session_id, int(state.settings.session_max_s))
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/")
    return response


async def signout(request: Request) -> Response:
    state = console(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    session = state.sessions.get(session_id)
    form = await request.form()
    if session is not None and not csrf_ok(session.csrf, form.get("csrf")):
        return render(
            request,
            "error.html",
            403,
            title="Refused",
            error="The form expired: reload the page and try again.",
        )
    state.sessions.end(session_id)
    response = see_other("/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

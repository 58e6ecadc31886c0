"""The public invitation accept page (issue 20): no session needed, the invitation's secret is
the credential.

The mailed link is `<console>/invitations/accept#<secret>`: the secret rides in the URL
fragment, which a browser sends to no server and puts in no Referer, so it reaches neither
this server's access log nor any proxy's. The console's own script (static/console.js) moves
it from the fragment into the form's field and clears it from the address bar and the session
history (history.replaceState); without JavaScript the person pastes the link or the secret.
The secret then travels once, in a POST body (never a URL), and is not kept, logged or shown.

Accepting is a click, not automatic: mail scanners that open links (some run their scripts)
must not use up the invitation. The answer shows the new API key token once (the page is
no-store, like every page) and offers "Sign in with it": the token waits on the server in a
one-time hand-off (10 minutes, keyed by an HttpOnly cookie), so it is not sent back by the
browser; the click turns it into an ordinary session."""

from __future__ import annotations

import logging

import grpc
from starlette.requests import Request
from starlette.responses import Response

from authz.v1 import invitations_pb2 as i
from services.console.backends import Metadata
from services.console.errors import in_words
from services.console.pages_signin import anonymous_form, set_cookie, signin_page
from services.console.web import SESSION_COOKIE, SIGNIN_CSRF_COOKIE, console, render, see_other
from services.console.web_security import csrf_ok

log = logging.getLogger(__name__)

HANDOFF_COOKIE = "console_invitation_handoff"
HANDOFF_S = 600.0  # how long "Sign in with it" works after the token was shown
MAX_HANDOFFS = 1_000
MAX_PASTED = 2048  # a link with its secret is ~120 characters

INVALID = (
    "This invitation link does not work. It may have expired, been revoked or replaced by a "
    "newer one, or been used already; or it was copied incompletely. Ask the person who "
    "invited you to send it again."
)
RATE_LIMITED = "Too many attempts from your address. Wait a minute, then try again."
EMPTY = "Paste the link from your invitation email, or the secret in it (inv_...)."
FORM_EXPIRED = "The form expired: open the link from your invitation email again."


def secret_from(pasted: str) -> str:
    """The secret in what a person pasted: the whole link (the part after '#') or the secret."""
    return pasted.strip().rpartition("#")[2].strip()


def forwarded_for(request: Request) -> Metadata:
    """The browser's address for authz's per-address rate limit and audit: authz believes it
    only from a trusted proxy (AUTHZ_TRUSTED_PROXIES naming the console); otherwise every
    accept made through the console counts against the console's own address."""
    host = request.client.host if request.client else ""
    return (("x-forwarded-for", host),) if host else ()


def accept_page(request: Request, message: str = "", status_code: int = 200) -> Response:
    return anonymous_form(
        request,
        "accept.html",
        status_code,
        title="Accept your invitation",
        message=message,
        accepted=None,
    )


async def accept_form(request: Request) -> Response:
    return accept_page(request)


async def accept(request: Request) -> Response:
    form = await request.form()
    csrf = request.cookies.get(SIGNIN_CSRF_COOKIE)
    if not csrf_ok(csrf, form.get("csrf")):
        return accept_page(request, FORM_EXPIRED, 403)
    pasted = form.get("secret")
    if not isinstance(pasted, str) or not secret_from(pasted):
        return accept_page(request, EMPTY, 400)
    secret = secret_from(pasted)
    if len(pasted) > MAX_PASTED or not secret.isprintable():
        return accept_page(request, INVALID, 401)
    state = console(request)
    try:
        answer: i.AcceptInvitationResponse = await state.backends.invitations.AcceptInvitation(
            i.AcceptInvitationRequest(secret=secret), metadata=forwarded_for(request)
        )
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return accept_page(request, INVALID, 401)
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return accept_page(request, RATE_LIMITED, 429)
        if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            log.error("console: AcceptInvitation failed: %s", code)
        return accept_page(request, in_words(exc), 503)
    user = answer.user
    handoff = state.handoffs.create(answer.token, "USER", user.identifier, user.account, user.email)
    response = render(
        request,
        "accept.html",
        title="Invitation accepted",
        csrf=csrf,
        message="",
        accepted=answer,
    )
    set_cookie(request, response, HANDOFF_COOKIE, handoff, int(HANDOFF_S))
    return response


async def signin_with_new_token(request: Request) -> Response:
    """'Sign in with it': the hand-off becomes a session (a new id: no fixation)."""
    form = await request.form()
    if not csrf_ok(request.cookies.get(SIGNIN_CSRF_COOKIE), form.get("csrf")):
        return signin_page(request, "The form expired: sign in with the token you copied.", 403)
    state = console(request)
    handoff_id = request.cookies.get(HANDOFF_COOKIE)
    handoff = state.handoffs.get(handoff_id)
    state.handoffs.end(handoff_id)  # once
    if handoff is None:
        return signin_page(
            request, "That sign-in offer expired: sign in with the token you copied.", 400
        )
    state.sessions.end(request.cookies.get(SESSION_COOKIE))
    session_id = state.sessions.create(
        handoff.token,
        handoff.principal_type,
        handoff.principal_id,
        handoff.principal_scope,
        handoff.email,
    )
    response = see_other("/events")
    set_cookie(request, response, SESSION_COOKIE, session_id, int(state.settings.session_max_s))
    response.delete_cookie(HANDOFF_COOKIE, path="/")
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/")
    return response

"""What every page handler shares: the console's state, the signed-in session, rendering."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from services.console.backends import Backends
from services.console.sessions import Session, SessionStore
from services.console.settings import ConsoleSettings
from services.console.web_security import csrf_ok

SESSION_COOKIE = "console_session"
SIGNIN_CSRF_COOKIE = "console_signin_csrf"  # before a session exists: a double-submit cookie
HERE = Path(__file__).parent


@dataclass
class Console:
    settings: ConsoleSettings
    sessions: SessionStore
    backends: Backends
    # Tokens just issued by an accepted invitation, until "Sign in with it" (pages_invitation).
    handoffs: SessionStore


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # everything shown is escaped: event contents come from callers
        undefined=jinja2.StrictUndefined,
    )
    return Jinja2Templates(env=env)


TEMPLATES = templates()


class SignInRequired(Exception):
    """No live session: the handler's caller goes to the sign-in page."""


def console(request: Request) -> Console:
    state: Console = request.app.state.console
    return state


def session_of(request: Request) -> Session:
    session = console(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    return session


async def checked_form(request: Request, session: Session) -> FormData:
    """The form of a state-changing POST, refused (403) unless it carries the session's token."""
    form = await request.form()
    if not csrf_ok(session.csrf, form.get("csrf")):
        raise CsrfRefused
    return form


class CsrfRefused(Exception):
    pass


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = console(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    flash = session.flash[:] if session else []
    if session:
        session.flash.clear()
    context = {"title": "Console", "session": session, "flash": flash, "error": None, **context}
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)

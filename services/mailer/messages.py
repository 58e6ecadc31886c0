"""An invitation notification -> the email the invitee reads: plain text and HTML, a link to the
console's accept page and, for people without the console, the grpcurl line that accepts it.
Pure: no I/O. Every value from the notification is escaped in the HTML."""

from __future__ import annotations

import json
from email.message import EmailMessage
from html import escape

from authz.v1 import notifications_pb2 as pb


def grpcurl_line(invitation: pb.InvitationNotification, authz_target: str) -> str:
    request = json.dumps({"secret": invitation.secret, "account": invitation.account})
    return (
        f"grpcurl -plaintext -d '{request}' {authz_target}"
        " authz.v1.InvitationService/AcceptInvitation"
    )


def invitation_email(
    invitation: pb.InvitationNotification, mail_from: str, authz_target: str
) -> EmailMessage:
    who = invitation.display_name or invitation.user
    inviter = invitation.inviter + (
        f" ({invitation.inviter_email})" if invitation.inviter_email else ""
    )
    expires = invitation.expires_at.ToDatetime().strftime("%Y-%m-%d %H:%M UTC")
    cli = grpcurl_line(invitation, authz_target)
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = invitation.email
    message["Subject"] = f"You are invited to join {invitation.account}"
    message.set_content(
        f"Hello {who},\n\n"
        f"{inviter} invited you to join the account {invitation.account}"
        f" as {invitation.user!r}.\n\n"
        f"Accept the invitation in the web console:\n{invitation.accept_url}\n\n"
        f"Or accept it from a terminal; the answer holds your API key token, shown once:\n"
        f"{cli}\n\n"
        f"The invitation expires on {expires} and works once. If you did not expect it, ignore "
        f"this message: nothing happens unless it is accepted.\n"
    )
    message.add_alternative(
        "<!doctype html><html><body>"
        f"<p>Hello {escape(who)},</p>"
        f"<p>{escape(inviter)} invited you to join the account <b>{escape(invitation.account)}</b>"
        f" as <b>{escape(invitation.user)}</b>.</p>"
        f'<p><a href="{escape(invitation.accept_url, quote=True)}">Accept the invitation</a></p>'
        "<p>Or accept it from a terminal; the answer holds your API key token, shown once:</p>"
        f"<pre>{escape(cli)}</pre>"
        f"<p>The invitation expires on {escape(expires)} and works once. If you did not expect"
        " it, ignore this message: nothing happens unless it is accepted.</p>"
        "</body></html>",
        subtype="html",
    )
    return message

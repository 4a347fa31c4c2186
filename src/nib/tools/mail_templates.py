"""Appwrite 1.5's default e-mails (English locale) and the links they carry.

Wording is Appwrite's ``app/config/locale/translations/en.json`` (``emails.*``) with the
project's name substituted; every value that comes from users or clients (names, URLs, phrases,
user agents) is HTML-escaped in the HTML part. Each e-mail is a list of blocks rendered twice:
as plain text and as HTML (``mail.Message`` carries both).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .mail import Message

# One paragraph of a message: its kind ("p", "link", "button", "code", "phrase") and its text,
# then a button's URL.
Block = tuple[str, ...]

UNKNOWN = "UNKNOWN"

_CLIENT_INFO = (
    "This sign in was requested using {client} on {device} ({os}). "
    "If you didn't request the sign in, you can safely ignore this email."
)
_SECURITY_PHRASE = (
    "Security phrase for this email is {phrase}. "
    "You can trust this email if this phrase matches the phrase shown during sign in."
)


def link(url: str, params: Mapping[str, str]) -> str:
    """``url`` with Appwrite's parameters merged into its query, as ``Template::mergeQuery``:
    parameters already there keep their place (a same-named one takes the new value), new ones
    are appended, and the path and fragment are kept."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def verification(*, to: str, user_name: str, project: str, url: str = "", code: str = "", phrase: str = "") -> Message:
    """``emails.verification.*``: the link confirms the address (PUT /account/verification), or
    without ``url`` a 6-digit ``code`` does (PUT /account/verifications/email/otp)."""
    return _message(
        to,
        user_name,
        "Account Verification",
        [
            ("p", f"Hey {user_name}"),
            *_link_or_code(url, "Follow this link to verify your email address.", code, "verify your email address"),
            ("p", "If you didn’t ask to verify this address, you can ignore this message."),
            *_phrase_block(phrase),
            ("p", "Thanks"),
            ("p", f"{project} team"),
        ],
    )


def recovery(*, to: str, user_name: str, project: str, url: str = "", code: str = "", phrase: str = "") -> Message:
    """``emails.recovery.*``: the link leads to the app's new-password form (PUT /account/recovery),
    or without ``url`` the app asks for the 6-digit ``code`` (PUT /account/recovery/otp)."""
    return _message(
        to,
        user_name,
        "Password Reset",
        [
            ("p", f"Hello {user_name}"),
            *_link_or_code(
                url, f"Follow this link to reset your {project} password.", code, f"reset your {project} password"
            ),
            ("p", "If you didn’t ask to reset your password, you can ignore this message."),
            *_phrase_block(phrase),
            ("p", "Thanks"),
            ("p", f"{project} team"),
        ],
    )


def _link_or_code(url: str, follow: str, code: str, purpose: str) -> list[Block]:
    """The link with its invitation ``follow``, or the code that serves ``purpose``."""
    if url:
        return [("p", follow), ("link", url)]
    return [("p", f"Enter the following code to {purpose}. This code will expire in 15 minutes."), ("code", code)]


def magic_url(*, to: str, project: str, url: str, client: Mapping[str, str], phrase: str = "") -> Message:
    """``emails.magicSession.*``: a sign-in link valid for one hour."""
    blocks = [
        ("p", "Hello,"),
        (
            "p",
            f"Click the button below to securely sign in to your {project} account. This link will expire in 1 hour.",
        ),
        ("button", f"Sign in to {project}", url),
        ("p", "If you are unable to sign in using the button above, please visit the following link:"),
        ("link", url),
        ("p", _client_info(client)),
    ]
    return _message(to, "", f"{project} Login", blocks + _phrase_block(phrase) + _signature(project))


def email_otp(*, to: str, project: str, code: str, client: Mapping[str, str], phrase: str = "") -> Message:
    """``emails.otpSession.*``: a 6-digit sign-in code valid for 15 minutes."""
    blocks = [
        ("p", "Hello,"),
        (
            "p",
            f"Enter the following verification code when prompted to securely sign in to your {project} "
            "account. This code will expire in 15 minutes.",
        ),
        ("code", code),
        ("p", _client_info(client)),
    ]
    return _message(to, "", f"OTP for {project} Login", blocks + _phrase_block(phrase) + _signature(project))


def mfa_challenge(*, to: str, user_name: str, project: str, code: str, client: Mapping[str, str]) -> Message:
    """``emails.mfaChallenge.*``: the code that completes an e-mail MFA challenge."""
    blocks = [
        ("p", f"Hello {user_name},"),
        (
            "p",
            f"Enter the following verification code when prompted to securely sign in to your {project} "
            "account. This code will expire in 15 minutes.",
        ),
        ("code", code),
        (
            "p",
            "This verification code was requested using {client} on {device} ({os}). If you didn't request "
            "the verification code, you can safely ignore this email.".format(**_agent(client)),
        ),
    ]
    return _message(to, user_name, f"Verification Code for {project}", blocks + _signature(project))


def invitation(*, to: str, to_name: str, project: str, team: str, owner: str, url: str) -> Message:
    """``emails.invitation.*``: the link accepts a team membership (PATCH …/memberships/{id}/status)."""
    return _message(
        to,
        to_name,
        f"Invitation to {team} Team at {project}",
        [
            ("p", "Hello"),
            (
                "p",
                f"This mail was sent to you because {owner} wanted to invite you to become a member of the "
                f"{team} team at {project}.",
            ),
            ("link", url),
            ("p", "If you are not interested, you can ignore this message."),
            ("p", "Thanks"),
            ("p", f"{project} team"),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Rendering


def _agent(client: Mapping[str, str]) -> dict[str, str]:
    """Appwrite's {{agentClient}}, {{agentDevice}}, {{agentOs}} from the parsed user agent."""
    return {
        "client": client.get("clientName") or UNKNOWN,
        "device": client.get("deviceBrand") or UNKNOWN,
        "os": client.get("osName") or UNKNOWN,
    }


def _client_info(client: Mapping[str, str]) -> str:
    return _CLIENT_INFO.format(**_agent(client))


def _phrase_block(phrase: str) -> list[Block]:
    return [("phrase", phrase)] if phrase else []


def _signature(project: str) -> list[Block]:
    return [("p", "Thanks,"), ("p", f"{project} team")]


def _message(to: str, to_name: str, subject: str, blocks: list[Block]) -> Message:
    return Message(to=to, to_name=to_name, subject=subject, text=_text(blocks), html=_html(subject, blocks))


def _text(blocks: list[Block]) -> str:
    lines = []
    for kind, value, *rest in blocks:
        if kind == "button":
            lines.append(f"{value}: {rest[0]}")
        elif kind == "phrase":
            lines.append(_SECURITY_PHRASE.format(phrase=value))
        else:
            lines.append(value)
    return "\n\n".join(lines) + "\n"


def _html(subject: str, blocks: list[Block]) -> str:
    parts = []
    for kind, value, *rest in blocks:
        if kind == "p":
            parts.append(f"<p>{escape(value)}</p>")
        elif kind == "link":
            parts.append(f'<p><a href="{escape(value)}" target="_blank">{escape(value)}</a></p>')
        elif kind == "button":
            parts.append(
                f'<p><a href="{escape(rest[0])}" target="_blank" style="display:inline-block;padding:10px 20px;'
                f'border-radius:8px;background:#fd366e;color:#ffffff;text-decoration:none">{escape(value)}</a></p>'
            )
        elif kind == "code":
            parts.append(f'<p style="font-size:26px;font-weight:600;letter-spacing:4px">{escape(value)}</p>')
        elif kind == "phrase":
            parts.append(f"<p>{_SECURITY_PHRASE.format(phrase=f'<strong>{escape(value)}</strong>')}</p>")
    body = "\n".join(parts)
    return (
        '<!doctype html>\n<html dir="ltr">\n<head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n"
        '<body style="font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#373b4d">\n'
        f'<div style="max-width:500px;margin:0 auto;padding:24px">\n{body}\n</div>\n</body>\n</html>\n'
    )

"""Sending one e-mail over SMTP, synchronously, from service code in a worker thread.

Appwrite queues mail for a worker and never tells the client whether delivery worked; nib sends
while the request waits, so a failure reaches the caller instead of vanishing:

* no SMTP host configured -> 503 ``general_smtp_disabled`` ("SMTP disabled", as Appwrite);
* the server cannot be reached, does not answer within ``smtp_timeout`` seconds, refuses the
  login or the message -> 503 ``general_server_error`` (the cause is logged). The type says what
  happened (the server side failed, nothing is "disabled"); 503 instead of the type's 500 says
  it is temporary and lets the message through (nib hides the message of a 500).

The whole exchange, not each socket operation, is bounded by ``smtp_timeout``: it runs in a
helper thread the caller waits for at most that long; on expiry its connection is shut down so
a late delivery cannot follow a reported failure.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from .config import Settings
from .errors import AppwriteError

log = logging.getLogger("nib.mail")

_DELIVERY_FAILED = "E-mail could not be sent: {}. Please try again later."
# The helper's socket operations may wait a little longer than the caller does, so a silent
# server is always reported by the caller's deadline rather than by a socket error racing it.
_SOCKET_GRACE = 1.0


@dataclass(frozen=True)
class Message:
    """One e-mail: a plain-text and an HTML rendering of the same content."""

    to: str
    subject: str
    text: str
    html: str
    to_name: str = ""


def require_smtp(settings: Settings) -> None:
    """Appwrite's check at the top of every e-mail endpoint."""
    if not settings.smtp_host:
        raise AppwriteError("general_smtp_disabled", "SMTP disabled")


def send(settings: Settings, message: Message) -> None:
    """Deliver ``message`` or raise an AppwriteError; returns within ``smtp_timeout`` seconds."""
    require_smtp(settings)
    attempt = _Attempt(settings, _compose(settings, message))
    worker = threading.Thread(target=attempt.run, name="nib-smtp", daemon=True)
    worker.start()
    worker.join(settings.smtp_timeout)
    if worker.is_alive():
        attempt.abort()
        error: BaseException | None = TimeoutError(f"no answer within {settings.smtp_timeout:g} s")
    else:
        error = attempt.error
    if error is not None:
        log.warning("e-mail to %s via %s:%s failed: %r", message.to, settings.smtp_host, settings.smtp_port, error)
        raise AppwriteError("general_server_error", _DELIVERY_FAILED.format(_reason(error)), status=503) from error


def _compose(settings: Settings, message: Message) -> EmailMessage:
    """The MIME message: multipart/alternative with the text part first, as mail clients expect."""
    email = EmailMessage()
    email["From"] = formataddr((settings.smtp_sender_name, settings.smtp_sender_email))
    email["To"] = formataddr((message.to_name, message.to))
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = make_msgid(domain=settings.smtp_sender_email.rpartition("@")[2] or None)
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


def _reason(error: BaseException) -> str:
    """What the client is told; host names and server replies stay in the log."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "the SMTP server refused the login"
    if isinstance(error, (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)):
        return "the SMTP server rejected the message"
    if isinstance(error, ssl.SSLError):
        return "no secure connection to the SMTP server could be made"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "the SMTP server did not answer in time"
    if isinstance(error, smtplib.SMTPException):
        return "the SMTP exchange failed"
    return "the SMTP server could not be reached"


class _Attempt:
    """One delivery, run in the helper thread; ``error`` is set when it failed."""

    def __init__(self, settings: Settings, email: EmailMessage) -> None:
        self.settings = settings
        self.email = email
        self.error: BaseException | None = None
        self._client: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self._aborted = False

    def run(self) -> None:
        s = self.settings
        timeout = s.smtp_timeout + _SOCKET_GRACE
        try:
            client: smtplib.SMTP
            if s.smtp_secure == "ssl":
                client = smtplib.SMTP_SSL(timeout=timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(timeout=timeout)
            # smtplib records the TLS server name only when __init__ connects; connecting here
            # instead lets abort() reach the socket while the greeting is awaited.
            client._host = s.smtp_host  # type: ignore[attr-defined]  # private, so typeshed omits it
            with self._lock:
                if self._aborted:
                    return
                self._client = client
            with client:
                client.connect(s.smtp_host, s.smtp_port)
                if s.smtp_secure == "tls":
                    client.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    client.login(s.smtp_username, s.smtp_password)
                client.send_message(self.email)
        except Exception as error:  # reported to the caller, which logs it
            self.error = error

    def abort(self) -> None:
        """Cut the connection of an attempt that ran out of time (its thread then ends)."""
        with self._lock:
            self._aborted = True
            sock = self._client.sock if self._client is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for e-mail tests."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


class Mailbox:
    """Parsed messages by recipient; each is handed out once, so tests can share one server."""

    def __init__(self) -> None:
        self._received: list[tuple[list[str], EmailMessage]] = []
        self._arrived = threading.Condition()

    def add(self, recipients: list[str], message: EmailMessage) -> None:
        with self._arrived:
            self._received.append(([r.lower() for r in recipients], message))
            self._arrived.notify_all()

    def wait_for(self, address: str, timeout: float = 10) -> EmailMessage:
        """The oldest message to ``address`` not handed out yet, waiting up to ``timeout`` s."""
        address = address.lower()
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for index, (recipients, message) in enumerate(self._received):
                    if address in recipients:
                        del self._received[index]
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no e-mail to {address} within {timeout} s")
                self._arrived.wait(left)

    def pending(self, address: str) -> int:
        """How many messages to ``address`` arrived and were not handed out."""
        with self._arrived:
            return sum(address.lower() in recipients for recipients, _ in self._received)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.mailbox.add(list(envelope.rcpt_tos), message)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A running aiosmtpd server and its mailbox."""

    host: str
    port: int
    controller: Controller
    mailbox: Mailbox = field(default_factory=Mailbox)

    def env(self) -> dict[str, str]:
        """What `nib serve` needs to deliver here."""
        return {"NIB_SMTP_HOST": self.host, "NIB_SMTP_PORT": str(self.port)}

    def stop(self) -> None:
        self.controller.stop()


def start_smtp(port: int, credentials: tuple[str, str] | None = None) -> SmtpServer:
    """Start a server on ``HOST:port``; with ``credentials`` it offers AUTH over plain TCP and
    accepts only those (a client that skips AUTH is not refused: aiosmtpd warns on every
    connection when AUTH is required without TLS)."""
    mailbox = Mailbox()
    options: dict = {}
    if credentials:
        login, password = (part.encode() for part in credentials)

        def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (login, password)
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

        options = {"authenticator": authenticator, "auth_require_tls": False}
    controller = Controller(_Handler(mailbox), hostname=HOST, port=port, **options)
    controller.start()
    return SmtpServer(HOST, port, controller, mailbox)


def part(message: EmailMessage, subtype: str) -> str:
    """The decoded ``text/<subtype>`` body of a message, with the wire's CRLFs as newlines."""
    body = message.get_body(preferencelist=(subtype,))
    assert body is not None and body.get_content_subtype() == subtype, f"no text/{subtype} part"
    return body.get_content().replace("\r\n", "\n")


def first_link(message: EmailMessage) -> str:
    """The first http(s) URL in the text part: the link a user would follow."""
    found = re.search(r"https?://\S+", part(message, "plain"))
    assert found, "no link in the e-mail"
    return found.group(0)

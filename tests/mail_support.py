"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for e-mail tests."""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def start_smtp(
    port: int, credentials: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None, implicit_tls: bool = False
) -> SmtpServer:
    """Start a server on ``HOST:port``.

    With ``credentials`` it offers AUTH over plain TCP and accepts only those (a client that
    skips AUTH is not refused: aiosmtpd warns on every connection when AUTH is required without
    TLS). With a ``tls`` server context it offers STARTTLS, or speaks TLS from the first byte
    when ``implicit_tls``.
    """
    mailbox = Mailbox()
    options: dict = {}
    if tls is not None:
        options = {"ssl_context": tls} if implicit_tls else {"tls_context": tls}
    if credentials:
        login, password = (part.encode() for part in credentials)

        def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (login, password)
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

        options.update(authenticator=authenticator, auth_require_tls=False)
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


def link_params(message: EmailMessage) -> dict[str, str]:
    """The query parameters of the e-mail's link (userId, secret, expire, …): what an app passes
    to the SDK's confirm call."""
    return dict(parse_qsl(urlsplit(first_link(message)).query, keep_blank_values=True))


def one_time_code(message: EmailMessage) -> str:
    """The 6-digit code of an OTP or MFA e-mail (a line of its own in the text part)."""
    found = re.search(r"^(\d{6})$", part(message, "plain"), re.MULTILINE)
    assert found, "no 6-digit code in the e-mail"
    return found.group(1)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for ``HOST`` (IP SAN) and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def server_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context

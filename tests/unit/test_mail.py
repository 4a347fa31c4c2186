"""nib.tools.mail and nib.tools.mail_templates against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid

import pytest

from mail_support import first_link, part, self_signed_certificate, server_tls_context
from nib.tools.config import Settings
from nib.tools.errors import AppwriteError
from nib.tools.mail import Message, send
from nib.tools.mail_templates import email_otp, invitation, link, magic_url, mfa_challenge, recovery, verification

CHROME_ON_WINDOWS = {"clientName": "Chrome", "deviceBrand": "", "osName": "Windows"}


def settings_for(host: str, port: int, **overrides) -> Settings:
    values = {"smtp_sender_name": "Nib Mailer", "smtp_sender_email": "mailer@nib.test", "smtp_timeout": 5.0}
    return Settings(smtp_host=host, smtp_port=port, **{**values, **overrides})


def address() -> str:
    return f"u{uuid.uuid4().hex[:12]}@example.com"


def assert_fails_fast(settings: Settings, reason: str, within: float) -> AppwriteError:
    started = time.monotonic()
    with pytest.raises(AppwriteError) as failure:
        send(settings, Message(to=address(), subject="s", text="t", html="<p>t</p>"))
    assert time.monotonic() - started < within
    assert (failure.value.type, failure.value.status) == ("general_server_error", 503)
    assert failure.value.message == f"E-mail could not be sent: {reason}. Please try again later."
    return failure.value


# ---------------------------------------------------------------------------------------------
# Delivery


def test_message_arrives_as_multipart_text_and_html(smtp):
    to = address()
    send(
        settings_for(smtp.host, smtp.port),
        Message(to=to, to_name="Jane Doe", subject="Grüße", text="plain body\n", html="<p>html body</p>\n"),
    )
    received = smtp.mailbox.wait_for(to)
    assert received["From"] == "Nib Mailer <mailer@nib.test>"
    assert received["To"] == f"Jane Doe <{to}>"
    assert received["Subject"] == "Grüße"
    assert received["Message-ID"].endswith("@nib.test>")
    assert received.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in received.iter_parts()] == ["text/plain", "text/html"]
    assert part(received, "plain") == "plain body\n"
    assert part(received, "html") == "<p>html body</p>\n"


def test_login_with_username_and_password(smtp_factory):
    guarded = smtp_factory(credentials=("mailer", "s3cret"))
    to = address()
    send(
        settings_for(guarded.host, guarded.port, smtp_username="mailer", smtp_password="s3cret"),
        verification(to=to, user_name="Jane", project="Nib", url="http://localhost/verify"),
    )
    assert guarded.mailbox.wait_for(to)["Subject"] == "Account Verification"


def test_wrong_password_is_reported(smtp_factory):
    guarded = smtp_factory(credentials=("mailer", "s3cret"))
    settings = settings_for(guarded.host, guarded.port, smtp_username="mailer", smtp_password="wrong")
    assert_fails_fast(settings, "the SMTP server refused the login", within=5)


@pytest.mark.parametrize("secure", ["tls", "ssl"])
def test_starttls_and_implicit_tls(smtp_factory, tmp_path, monkeypatch, secure):
    cert, key = self_signed_certificate(tmp_path)
    # nib verifies the server against the system's trust store; here that store is our certificate.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    secured = smtp_factory(tls=server_tls_context(cert, key), implicit_tls=secure == "ssl", credentials=("m", "p"))
    to = address()
    settings = settings_for(secured.host, secured.port, smtp_secure=secure, smtp_username="m", smtp_password="p")
    send(settings, Message(to=to, subject=f"over {secure}", text="t", html="<p>t</p>"))
    assert secured.mailbox.wait_for(to)["Subject"] == f"over {secure}"


def test_untrusted_certificate_is_refused(smtp_factory, tmp_path):
    secured = smtp_factory(tls=server_tls_context(*self_signed_certificate(tmp_path)))
    assert_fails_fast(
        settings_for(secured.host, secured.port, smtp_secure="tls"),
        "no secure connection to the SMTP server could be made",
        within=5,
    )


# ---------------------------------------------------------------------------------------------
# Failures are reported, quickly, and logged


def test_no_smtp_host_is_appwrites_smtp_disabled():
    with pytest.raises(AppwriteError) as failure:
        send(Settings(), Message(to=address(), subject="s", text="t", html="t"))
    assert (failure.value.type, failure.value.status, failure.value.message) == (
        "general_smtp_disabled",
        503,
        "SMTP disabled",
    )


def test_closed_port_fails_at_once_and_is_logged(caplog):
    with socket.socket() as unused:  # bound, not listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="nib.mail"):
            assert_fails_fast(settings_for("127.0.0.1", port), "the SMTP server could not be reached", within=2)
    assert f"via 127.0.0.1:{port} failed" in caplog.text
    assert "ConnectionRefusedError" in caplog.text


def test_server_that_never_answers_fails_within_the_timeout():
    with socket.socket() as silent:  # accepts connections (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = settings_for("127.0.0.1", silent.getsockname()[1], smtp_timeout=0.5)
        started = time.monotonic()
        assert_fails_fast(settings, "the SMTP server did not answer in time", within=1.5)
        assert time.monotonic() - started >= 0.5
        # The abandoned attempt's connection was cut, so its thread ends now, not at its own timeout.
        time.sleep(0.2)
        assert not [t for t in threading.enumerate() if t.name == "nib-smtp"]


# ---------------------------------------------------------------------------------------------
# Links


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("https://app.test/verify", {"userId": "u1", "secret": "s"}, "https://app.test/verify?userId=u1&secret=s"),
        (
            "https://app.test/verify?lang=de&x=",
            {"userId": "u1", "secret": "s"},
            "https://app.test/verify?lang=de&x=&userId=u1&secret=s",
        ),
        # A same-named parameter keeps its place and takes Appwrite's value.
        ("http://localhost:3000/a?secret=old&b=1", {"secret": "new"}, "http://localhost:3000/a?secret=new&b=1"),
        ("https://app.test/#/confirm", {"userId": "u1"}, "https://app.test/?userId=u1#/confirm"),
        (
            "https://app.test/join",
            {"teamName": "R&D team", "expire": "2024-05-01T10:20:30.123+00:00"},
            "https://app.test/join?teamName=R%26D+team&expire=2024-05-01T10%3A20%3A30.123%2B00%3A00",
        ),
    ],
)
def test_link_merges_appwrites_parameters_into_the_query(url, params, expected):
    assert link(url, params) == expected


# ---------------------------------------------------------------------------------------------
# Templates (Appwrite 1.5 English wording)


def test_verification_and_recovery_wording_and_link(smtp):
    settings = settings_for(smtp.host, smtp.port)
    to = address()
    url = "https://app.test/verify?userId=u1&secret=abc"
    send(settings, verification(to=to, user_name="Jane", project="Acme", url=url))
    received = smtp.mailbox.wait_for(to)
    assert received["Subject"] == "Account Verification"
    text = part(received, "plain")
    assert text.startswith("Hey Jane\n\nFollow this link to verify your email address.\n\n" + url + "\n\n")
    assert text.endswith("Thanks\n\nAcme team\n")
    assert f'<a href="{url.replace("&", "&amp;")}" target="_blank">' in part(received, "html")
    assert first_link(received) == url

    send(settings, recovery(to=to, user_name="Jane", project="Acme", url=url))
    received = smtp.mailbox.wait_for(to)
    assert received["Subject"] == "Password Reset"
    assert "Hello Jane\n\nFollow this link to reset your Acme password." in part(received, "plain")
    assert "If you didn’t ask to reset your password, you can ignore this message." in part(received, "plain")


def test_user_data_is_escaped_in_html_only():
    message = verification(
        to="x@example.com", user_name='<b>Bob</b> & "co"', project="<Acme>", url='https://a.test/?q="><script>'
    )
    assert "&lt;b&gt;Bob&lt;/b&gt; &amp; &quot;co&quot;" in message.html
    assert "&lt;Acme&gt; team" in message.html
    assert "<script>" not in message.html and "<b>" not in message.html
    assert 'Hey <b>Bob</b> & "co"' in message.text


def test_magic_url_otp_and_mfa_wording():
    magic = magic_url(to="x@example.com", project="Acme", url="https://a.test/m", client=CHROME_ON_WINDOWS)
    assert magic.subject == "Acme Login"
    assert "Click the button below to securely sign in to your Acme account. This link will expire in 1 hour." in (
        magic.text
    )
    assert "This sign in was requested using Chrome on UNKNOWN (Windows)." in magic.text
    assert "Security phrase" not in magic.text

    otp = email_otp(to="x@example.com", project="Acme", code="012345", client={}, phrase="Brave <Otter>")
    assert otp.subject == "OTP for Acme Login"
    assert "\n\n012345\n\n" in otp.text
    assert "This code will expire in 15 minutes." in otp.text
    assert "requested using UNKNOWN on UNKNOWN (UNKNOWN)" in otp.text
    assert "Security phrase for this email is Brave <Otter>. You can trust this email" in otp.text
    assert "<strong>Brave &lt;Otter&gt;</strong>" in otp.html

    challenge = mfa_challenge(to="x@example.com", user_name="Jane", project="Acme", code="987654", client={})
    assert challenge.subject == "Verification Code for Acme"
    assert challenge.text.startswith("Hello Jane,\n\n")
    assert "987654" in challenge.html


def test_invitation_wording():
    message = invitation(
        to="x@example.com", to_name="Jo", project="Acme", team="Blue", owner="Ann", url="https://a.test/join"
    )
    assert message.subject == "Invitation to Blue Team at Acme"
    assert (
        "This mail was sent to you because Ann wanted to invite you to become a member of the Blue team at Acme."
        in message.text
    )
    assert "\n\nhttps://a.test/join\n\n" in message.text

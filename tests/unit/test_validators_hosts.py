"""Hostnames of web platforms and the redirect-URL validator (Appwrite's Hostname and Host
validators), including how the pipeline hands it the request's allowed hosts."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from nib.http.cookies import session_cookies
from nib.http.routing import Param, validate
from nib.tools.errors import AppwriteError
from nib.tools.validators import Invalid, hostname_allowed, platform_hostname, redirect_url, request_host

HOSTS = ("localhost", "app.example.com", "*.apps.example.org")
HOSTS_MESSAGE = "URL host must be one of: localhost, app.example.com, *.apps.example.org"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("localhost", "localhost"),
        ("App.Example.COM", "app.example.com"),
        ("*.example.com", "*.example.com"),
        ("*", "*"),
        ("192.168.1.3", "192.168.1.3"),
        ("com.example.app", "com.example.app"),
        ("my_host.internal", "my_host.internal"),
    ],
)
def test_platform_hostname_accepts(value, stored):
    assert platform_hostname(value) == stored


@pytest.mark.parametrize(
    "value",
    [
        "",
        "http://app.com",
        "app.com:3000",
        "app.com/x",
        "-app.com",
        "app-.com",
        "a..b",
        ".app.com",
        "*app.com",
        "app.*.com",
        "**.app.com",
        "app com",
        "[::1]",
        "a" * 64 + ".com",
        "a." * 127 + "ab",
        42,
        None,
    ],
)
def test_platform_hostname_rejects(value):
    with pytest.raises(Invalid) as error:
        platform_hostname(value)
    assert str(error.value) == "Value must be a valid hostname without path, port and protocol."


def test_hostname_allowed_exact_wildcard_and_star():
    assert hostname_allowed("app.example.com", HOSTS)
    assert hostname_allowed("APP.Example.com", HOSTS)
    assert hostname_allowed("shop.apps.example.org", HOSTS)
    assert hostname_allowed("a.b.apps.example.org", HOSTS)
    assert not hostname_allowed("apps.example.org", HOSTS)  # a wildcard is not its root domain
    assert not hostname_allowed("evilapps.example.org", HOSTS)
    assert not hostname_allowed("example.com", HOSTS)
    assert not hostname_allowed("app.example.com.evil.net", HOSTS)
    assert not hostname_allowed("anything", ())
    assert hostname_allowed("anything.at.all", ("*",))


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/recovery",
        "http://localhost:3000/verify?x=1#done",
        "https://app.example.com",
        "https://user:pass@app.example.com/join",
        "https://shop.apps.example.org/invite",
        "myapp://app.example.com/callback",
    ],
)
def test_redirect_url_accepts_allowed_hosts(url):
    assert redirect_url(url, HOSTS) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/join-us#title",  # Appwrite's own test value for invitations
        "https://apps.example.org/",
        "https://app.example.com.evil.net/",
        "localhost/recovery",
        "/relative/path",
        "not a url",
        "http://",
        "javascript:alert(1)",
        "mailto:someone@app.example.com",
        "http://evil.com\\@localhost/",
        "http://localhost:99999999/",
        "http://local host/",
        "http://lócalhost/",
        "",
        42,
        ["http://localhost"],
    ],
)
def test_redirect_url_rejects_with_the_hosts_in_the_message(url):
    with pytest.raises(Invalid) as error:
        redirect_url(url, HOSTS)
    assert str(error.value) == HOSTS_MESSAGE


def test_pipeline_gives_the_request_hosts_to_the_validator():
    params = [Param("url", redirect_url)]
    assert validate(params, {"url": "https://app.example.com/reset"}, HOSTS) == {"url": "https://app.example.com/reset"}
    with pytest.raises(AppwriteError) as error:
        validate(params, {"url": "http://example.com/join-us#title"}, ("localhost",))
    assert error.value.type == "general_argument_invalid"
    assert error.value.status == 400
    assert error.value.message == "Invalid `url` param: URL host must be one of: localhost"
    with pytest.raises(AppwriteError) as missing:
        validate(params, {}, HOSTS)
    assert missing.value.message == 'Param "url" is not optional.'


@pytest.mark.parametrize(
    ("host", "name", "domain"),
    [
        ("App.Example.com:8443", "app.example.com", "; domain=.app.example.com;"),
        ("app.example.com", "app.example.com", "; domain=.app.example.com;"),
        ("localhost:3000", "localhost", None),
        ("127.0.0.1:80", "127.0.0.1", None),
        ("[::1]:8080", "[::1]", None),
        ("[2001:db8::1]", "[2001:db8::1]", None),
    ],
)
def test_request_host_and_the_cookie_domain(host, name, domain):
    # Appwrite omits the cookie Domain for localhost and IP hosts, IPv6 included.
    assert request_host(host) == name
    cookies = session_cookies("p", "secret", datetime(2030, 1, 1, tzinfo=timezone.utc), host, secure=False)
    for cookie in cookies:
        if domain is None:
            assert "domain=" not in cookie, cookie
        else:
            assert domain in cookie, cookie

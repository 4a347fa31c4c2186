"""The URLs of redirect parameters: PHP FILTER_VALIDATE_URL's verdicts (utopia URL), through
``url_host``, which gives the host of a URL it accepts and ``None`` otherwise."""

from __future__ import annotations

import pytest

from nib.tools import validators as v


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("https://example.com", "example.com"),
        ("http://localhost:3000/verify?a=1&b=2#top", "localhost"),
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://[::1]:8080/x", "::1"),
        ("https://user:pass@example.com/", "example.com"),
        ("myapp://callback", "callback"),  # mobile apps' custom schemes
        ("mailto:someone@example.com", None),  # a valid URL without a host
    ],
)
def test_accepted(value, host):
    assert v.url_host(value) == host


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not a url",
        "localhost:3000",  # no scheme
        "//example.com",
        "http://",
        "ftp://",
        "https://exa mple.com",
        "https://ex_ample.com",
        "http://-bad.com",
        "http://host:99999/",
        "http://[not-ipv6]/",
        "https://例え.jp",  # PHP accepts only ASCII
        "http://evil.com\\@localhost",  # a backslash is "/" to browsers: not localhost
        5,
        None,
    ],
)
def test_refused(value):
    assert v.url_host(value) is None

"""The URL validator of redirect parameters: PHP FILTER_VALIDATE_URL's verdicts (utopia URL)."""

from __future__ import annotations

import pytest

from nib.core import validators as v


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com",
        "http://localhost:3000/verify?a=1&b=2#top",
        "http://127.0.0.1/",
        "http://[::1]:8080/x",
        "https://user:pass@example.com/",
        "myapp://callback",  # mobile apps' custom schemes
        "mailto:someone@example.com",
    ],
)
def test_accepted(value):
    assert v.url(value) == value


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
        5,
        None,
    ],
)
def test_refused(value):
    with pytest.raises(v.Invalid) as info:
        v.url(value)
    assert str(info.value) == "Value must be a valid URL"

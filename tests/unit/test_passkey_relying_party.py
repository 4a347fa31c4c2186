"""The relying party of passkeys: its ID from the server's hostname, the origins a ceremony may
come from (the project's https web platforms on or under the RP ID; localhost on any port)."""

from __future__ import annotations

import pytest

from nib.account.webauthn import relying_party


@pytest.mark.parametrize("hostname", ["127.0.0.1", "10.0.0.1", "", "exa mple.com", "-bad.com", "example.com."])
def test_no_relying_party_without_a_domain_name(hostname):
    assert relying_party(hostname, "Project", ("localhost", hostname)) is None


def test_a_domain_needs_a_platform_on_or_under_it():
    assert relying_party("example.com", "P", ()) is None
    assert relying_party("example.com", "P", ("example.org", "*", "localhost", "notexample.com")) is None
    rp = relying_party("Example.COM", "P", ("app.example.com", "*.users.example.com", "example.org", "*"))
    assert rp is not None and rp.id == "example.com" and rp.name == "P"
    assert rp.hosts == ("app.example.com", "*.users.example.com")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("https://a.users.example.com", True),
        ("https://a.b.users.example.com", True),
        ("https://users.example.com", False),
        ("http://app.example.com", False),
        ("https://app.example.com:8443", False),
        ("https://app.example.com/", False),
        ("https://APP.example.com", False),
        ("https://user@app.example.com", False),
        ("https://example.org", False),
        ("https://example.com", False),
        ("http://localhost:3000", False),
        ("null", False),
    ],
)
def test_origins_of_a_public_relying_party(origin, allowed):
    rp = relying_party("example.com", "P", ("app.example.com", "*.users.example.com"))
    assert rp is not None and rp.allows(origin) is allowed


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost", True),
        ("http://localhost:5173", True),
        ("https://localhost:8443", True),
        ("ftp://localhost", False),
        ("http://127.0.0.1:5173", False),
        ("http://localhost:5173/path", False),
        ("http://localhost:99999", False),
        ("http://app.localhost:5173", False),
    ],
)
def test_localhost_allows_any_port(origin, allowed):
    rp = relying_party("localhost", "P", ())
    assert rp is not None and rp.allows(origin) is allowed


def test_the_fingerprint_follows_the_id_and_hosts():
    one = relying_party("example.com", "P", ("a.example.com", "b.example.com"))
    same = relying_party("example.com", "Renamed", ("b.example.com", "a.example.com"))
    other = relying_party("example.com", "P", ("a.example.com",))
    assert one and same and other
    assert one.fingerprint == same.fingerprint != other.fingerprint

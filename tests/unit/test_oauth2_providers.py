"""OAuth2 provider adapters against loopback servers that answer as the providers do: the
authorize URL, the code exchange as each provider takes it, the user mapping, refresh, and
providers' errors as Appwrite reports them."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest

from nib.account.oauth2.providers import USER_AGENT, Provider, ProviderConfig, ProviderError, Tokens, adapter_class
from nib.account.oauth2.providers._http import error_message
from oauth_fakes import (
    FAKES,
    AppleFake,
    FacebookFake,
    FakeProvider,
    GitHubFake,
    GitLabFake,
    GoogleFake,
    MicrosoftFake,
    parse_form_post,
)

CALLBACK = "https://nib.example/v1/account/sessions/oauth2/callback/{key}/project1"
PROVIDERS = sorted(FAKES)


@pytest.fixture
def http():
    with httpx.Client(timeout=5) as client:
        yield client


def adapter(
    key: str, http: httpx.Client, *, secret: str = "s3cret", app_id: str = "app-1", origin: str = ""
) -> Provider:
    cls = adapter_class(key)
    assert cls is not None and cls.key == key
    return cls(config=ProviderConfig(app_id, secret, CALLBACK.format(key=key), origin), http=http)


def against(fake: FakeProvider, http: httpx.Client) -> Provider:
    """The adapter configured as a project would be for this fake."""
    origin = "" if fake.name == "gitlab" else fake.origin  # GitLab's is its self-hosted endpoint
    return adapter(fake.name, http, secret=fake.secret, app_id=fake.client_id, origin=origin)


def authorize(p: Provider, http: httpx.Client, state: str = "st4te", scopes: list[str] | None = None) -> dict[str, str]:
    """What the browser brings back to the callback after the provider's consent; Apple's
    extra fields land in ``callback_params`` as the flow puts them."""
    answer = http.get(p.login_url(state, p.scopes(scopes or [])))
    if answer.status_code == 302:
        location = urlsplit(answer.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == p.config.callback_url
        return dict(parse_qsl(location.query))
    action, fields = parse_form_post(answer.text)  # Apple: form_post
    assert action == p.config.callback_url
    p.callback_params = {k: v for k, v in fields.items() if k not in ("code", "state")}
    return fields


def sign_in(p: Provider, http: httpx.Client) -> tuple[Tokens, object]:
    params = authorize(p, http)
    assert params["state"] == "st4te"
    tokens = p.exchange(params["code"])
    return tokens, p.user(tokens)


# -- registry ------------------------------------------------------------------------------


def test_every_adapter_is_registered_and_merges_scopes(http):
    for key in PROVIDERS:
        p = adapter(key, http)
        assert p.scopes([]) == list(p.default_scopes)
        assert p.scopes(["extra", p.default_scopes[0]]) == [*p.default_scopes, "extra"]  # no duplicates
    assert adapter_class("bitly") is None


# -- authorize URLs --------------------------------------------------------------------------

LOGIN_URLS = {
    "github": (
        "https://github.com/login/oauth/authorize",
        {"scope": "user:email"},
    ),
    "google": (
        "https://accounts.google.com/o/oauth2/v2/auth",
        {
            "scope": "https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid",
            "response_type": "code",
            "access_type": "offline",
            "prompt": "consent",
        },
    ),
    "microsoft": (
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        {"scope": "offline_access user.read", "response_type": "code", "response_mode": "query"},
    ),
    "apple": (
        "https://appleid.apple.com/auth/authorize",
        {"scope": "name email", "response_type": "code", "response_mode": "form_post"},
    ),
    "gitlab": ("https://gitlab.com/oauth/authorize", {"scope": "read_user", "response_type": "code"}),
    "discord": ("https://discord.com/api/oauth2/authorize", {"scope": "identify email", "response_type": "code"}),
    "facebook": ("https://www.facebook.com/v2.8/dialog/oauth", {"scope": "email"}),
}


@pytest.mark.parametrize("key", PROVIDERS)
def test_login_url_is_the_providers_authorize_endpoint(key, http):
    p = adapter(key, http)
    url = urlsplit(p.login_url("the-state", p.scopes([])))
    endpoint, extra = LOGIN_URLS[key]
    assert f"{url.scheme}://{url.netloc}{url.path}" == endpoint
    params = dict(parse_qsl(url.query))
    assert params == {"client_id": "app-1", "redirect_uri": CALLBACK.format(key=key), "state": "the-state", **extra}


def test_login_url_follows_the_origin_override_and_the_secrets_hosts(http):
    p = adapter("github", http, origin="http://127.0.0.1:9001")
    assert p.login_url("s", ["user:email"]).startswith("http://127.0.0.1:9001/login/oauth/authorize?")
    tenant = json.dumps({"clientSecret": "x", "tenantID": "contoso.onmicrosoft.com"})
    assert (
        adapter("microsoft", http, secret=tenant)
        .login_url("s", [])
        .startswith("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize?")
    )
    gitlab = json.dumps({"clientSecret": "x", "endpoint": "https://git.example.org/"})
    assert (
        adapter("gitlab", http, secret=gitlab).login_url("s", []).startswith("https://git.example.org/oauth/authorize?")
    )
    google = json.dumps({"clientSecret": "x", "prompt": "select_account"})
    assert "prompt=select_account" in adapter("google", http, secret=google).login_url("s", [])


# -- sign-in against each fake ---------------------------------------------------------------

# What each provider's token request must look like: method, where the parameters go, and the
# parameters (client_secret checked separately: Apple's is a JWT).
TOKEN_REQUESTS = {
    "github": ("POST", "form", {"client_id", "client_secret", "redirect_uri", "code"}),
    "google": ("POST", "query", {"client_id", "client_secret", "redirect_uri", "code", "grant_type"}),
    "microsoft": ("POST", "form", {"client_id", "client_secret", "redirect_uri", "code", "grant_type", "scope"}),
    "apple": ("POST", "form", {"client_id", "client_secret", "redirect_uri", "code", "grant_type"}),
    "gitlab": ("POST", "query", {"client_id", "client_secret", "redirect_uri", "code", "grant_type"}),
    "discord": ("POST", "form", {"client_id", "client_secret", "redirect_uri", "code", "grant_type", "scope"}),
    "facebook": ("GET", "query", {"client_id", "client_secret", "redirect_uri", "code"}),
}

USERS = {
    "github": ("583231", "octocat@example.com", "The Octocat"),
    "google": ("108000000000000000001", "ada@example.com", "Ada Lovelace"),
    "microsoft": ("00000000-0000-0000-66f3-3332eca7ea81", "ada@contoso.example", "Ada Lovelace"),
    "apple": ("001234.abcdef0123456789.1234", "ada@privaterelay.appleid.com", "Ada Lovelace"),
    "gitlab": ("4242", "ada@example.com", "Ada Lovelace"),
    "discord": ("80351110224678912", "ada@example.com", "ada"),
    "facebook": ("1001", "ada@example.com", "Ada Lovelace"),
}
# Providers whose e-mail nib never takes as verified: they do not say they checked it.
NEVER_VERIFIED = {"microsoft", "facebook"}


@pytest.mark.parametrize("verified", [True, False], ids=["verified", "unverified"])
@pytest.mark.parametrize("key", PROVIDERS)
def test_sign_in_exchanges_the_code_as_the_provider_expects_and_maps_the_user(key, verified, http):
    with FAKES[key](verified=verified) as fake:
        p = against(fake, http)
        tokens, user = sign_in(p, http)
        assert tokens.access_token.startswith("at-") and tokens.expires_in == 3600
        assert bool(tokens.refresh_token) is (key != "facebook")
        uid, email, name = USERS[key]
        assert (user.id, user.email, user.name) == (uid, email, name)
        assert user.verified is (verified and key not in NEVER_VERIFIED)

        method, where, names = TOKEN_REQUESTS[key]
        sent = fake.last(fake.token_path)
        params = sent.form if where == "form" else sent.query
        assert sent.method == method and set(params) >= names
        assert (sent.form if where == "query" else sent.query) == {}  # nothing on the other side
        if where == "form":
            assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
        assert params["client_id"] == fake.client_id and params["redirect_uri"] == p.config.callback_url
        assert params.get("grant_type", "authorization_code") == "authorization_code"
        assert all(r.headers["user-agent"] == USER_AGENT for r in fake.requests if r.path != fake.authorize_path)


def test_github_asks_for_json_and_reads_a_form_encoded_answer_too(http):
    with GitHubFake() as fake:
        p = against(fake, http)
        json_tokens, _ = sign_in(p, http)
        assert fake.last("/login/oauth/access_token").headers["accept"] == "application/json"
        fake.form_answers = True
        form_tokens, user = sign_in(p, http)
        assert form_tokens.refresh_token.startswith("rt-") and form_tokens.expires_in == 3600
        assert user.email == "octocat@example.com"
        assert fake.last("/user").headers["authorization"] == f"token {form_tokens.access_token}"
        fake.sign_in_as(id=7, login="grace", email="grace@example.com", name="Grace Hopper", verified=False)
        _, grace = sign_in(p, http)
        assert (grace.id, grace.email, grace.name, grace.verified) == ("7", "grace@example.com", "Grace Hopper", False)


@pytest.mark.parametrize(
    "emails, expected",
    [
        (
            [
                {"email": "old@example.com", "primary": False, "verified": True},
                {"email": "main@example.com", "primary": True, "verified": True},
            ],
            ("main@example.com", True),
        ),
        (
            [
                {"email": "main@example.com", "primary": True, "verified": False},
                {"email": "other@example.com", "primary": False, "verified": True},
            ],
            ("other@example.com", True),
        ),
        ([{"email": "main@example.com", "primary": True, "verified": False}], ("octocat@example.com", False)),
        ([], ("octocat@example.com", False)),
    ],
    ids=["verified-primary", "any-verified", "none-verified", "no-addresses"],
)
def test_github_takes_the_verified_primary_address_then_any_verified_one(emails, expected, http):
    with GitHubFake() as fake:
        fake.emails = emails
        _, user = sign_in(against(fake, http), http)
        # Without a verified address, the public profile address, unverified.
        assert (user.email, user.verified) == expected


def test_microsoft_uses_the_tenant_of_the_secret(http):
    with MicrosoftFake(tenant="contoso.onmicrosoft.com") as fake:
        _, user = sign_in(against(fake, http), http)
        assert user.email == "ada@contoso.example"
        assert fake.paths()[:2] == [
            "GET /contoso.onmicrosoft.com/oauth2/v2.0/authorize",
            "POST /contoso.onmicrosoft.com/oauth2/v2.0/token",
        ]
        assert fake.last("/v1.0/me").headers["authorization"].startswith("Bearer at-")


def test_gitlab_self_hosted_under_a_path_and_confirmed_at(http):
    with GitLabFake(prefix="/gitlab", verified=False) as fake:
        _, user = sign_in(against(fake, http), http)
        assert user.verified is False  # confirmed_at is null
        assert "GET /gitlab/api/v4/user" in fake.paths()


def test_apple_signs_its_client_secret_with_the_teams_key(http):
    with AppleFake() as fake:
        p = against(fake, http)
        secret = p.client_secret()
        header = jwt.get_unverified_header(secret)
        assert (header["alg"], header["kid"]) == ("ES256", fake.key_id)
        claims = jwt.decode(
            secret,
            fake.developer_key.public_key(),
            algorithms=["ES256"],
            audience="https://appleid.apple.com",
            issuer=fake.team_id,
        )
        assert claims["sub"] == fake.client_id
        assert claims["exp"] - claims["iat"] == 180 * 86400 and abs(claims["iat"] - time.time()) < 5


def test_apple_takes_the_name_from_the_first_consent_only(http):
    with AppleFake() as fake:
        p = against(fake, http)
        _, first = sign_in(p, http)
        assert first.name == "Ada Lovelace" and first.verified is True
        assert json.loads(p.callback_params["user"])["name"] == {"firstName": "Ada", "lastName": "Lovelace"}
        again = against(fake, http)
        _, second = sign_in(again, http)
        assert "user" not in again.callback_params
        assert (second.id, second.email, second.name) == (first.id, first.email, "")


def test_apple_refuses_a_client_secret_signed_by_another_key(http):
    with AppleFake() as fake, AppleFake() as other:
        p = adapter("apple", http, secret=other.secret, app_id=fake.client_id, origin=fake.origin)
        params = authorize(p, http)
        with pytest.raises(ProviderError) as refused:
            p.exchange(params["code"])
        assert refused.value.status == 400
        assert refused.value.message == (
            "Failed to obtain access token. The Apple OAuth2 provider returned an error: invalid_client: No description"
        )
    with pytest.raises(ProviderError) as broken:
        adapter("apple", http, secret="not json").client_secret()
    assert broken.value.status == 500


# -- refresh -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(set(PROVIDERS) - {"facebook"}))
def test_refresh_keeps_the_old_refresh_token_when_none_comes_back(key, http):
    with FAKES[key]() as fake:
        p = against(fake, http)
        tokens, _ = sign_in(p, http)
        renewed = p.refresh(tokens.refresh_token)
        assert renewed.access_token != tokens.access_token and renewed.refresh_token.startswith("rt-")
        assert renewed.refresh_token != tokens.refresh_token
        sent = fake.last(fake.token_path)
        params = sent.query if fake.token_params_in == "query" else sent.form
        assert (params["grant_type"], params["refresh_token"]) == ("refresh_token", tokens.refresh_token)

        fake.rotate_refresh_tokens = False
        kept = p.refresh(renewed.refresh_token)
        assert kept.refresh_token == renewed.refresh_token
        assert p.user(kept).id == USERS[key][0]


def test_facebook_refresh_trades_a_token_for_a_long_lived_one(http):
    with FacebookFake() as fake:
        p = against(fake, http)
        tokens, _ = sign_in(p, http)
        longer = p.refresh(tokens.access_token)
        assert longer.expires_in > 3600 and p.user(longer).id == "1001"
        assert fake.last("/v2.8/oauth/access_token").query["grant_type"] == "fb_exchange_token"


# -- errors --------------------------------------------------------------------------------

# How each fake words "invalid_grant: The provider refused the grant" in its error shape.
TOKEN_ERRORS = {
    "apple": "invalid_grant: No description",
    "facebook": "Unknown error: The provider refused the grant",
}


@pytest.mark.parametrize("status", [400, 401, 500])
@pytest.mark.parametrize("key", PROVIDERS)
def test_a_token_endpoint_error_is_a_provider_error_with_its_status(key, status, http):
    with FAKES[key]() as fake:
        p = against(fake, http)
        params = authorize(p, http)
        fake.fail(status, at="token")
        with pytest.raises(ProviderError) as refused:
            p.exchange(params["code"])
        assert refused.value.status == status
        detail = TOKEN_ERRORS.get(key, "invalid_grant: The provider refused the grant")
        name = adapter_class(key).name
        assert (
            refused.value.message
            == f"Failed to obtain access token. The {name} OAuth2 provider returned an error: {detail}"
        )
        # A refresh reports the provider's words alone.
        with pytest.raises(ProviderError) as refresh_refused:
            p.refresh("rt-whatever")
        assert (refresh_refused.value.status, refresh_refused.value.message) == (status, detail)


@pytest.mark.parametrize("key", sorted(set(PROVIDERS) - {"apple"}))  # Apple's user is in its ID token
def test_a_user_endpoint_error_is_a_provider_error_with_its_status(key, http):
    with FAKES[key]() as fake:
        p = against(fake, http)
        tokens, _ = sign_in(p, http)
        fake.fail(503, at="user")
        with pytest.raises(ProviderError) as failed:
            p.user(tokens)
        detail = "Unknown error" if key == "facebook" else "server_error"
        assert (failed.value.status, failed.value.message) == (503, f"{detail}: The user endpoint failed")
        fake.failure = None
        with pytest.raises(ProviderError) as unauthorized:
            p.user(Tokens(access_token="at-forged"))
        assert unauthorized.value.status == 401


def test_github_errors_answered_with_200_are_refusals(http):
    with GitHubFake() as fake:
        p = against(fake, http)
        with pytest.raises(ProviderError) as refused:
            p.exchange("not-a-code")
        assert refused.value.status == 400
        assert refused.value.message == (
            "Failed to obtain access token. The GitHub OAuth2 provider returned an error: "
            "invalid_grant: The code is incorrect or expired"
        )


def test_wrong_client_secret_and_a_code_used_twice_are_refused(http):
    with GoogleFake() as fake:
        p = adapter("google", http, secret="wrong", app_id=fake.client_id, origin=fake.origin)
        with pytest.raises(ProviderError) as refused:
            p.exchange(authorize(p, http)["code"])
        assert refused.value.status == 401 and refused.value.message.endswith(
            "invalid_client: Client authentication failed"
        )
        p = against(fake, http)
        code = authorize(p, http)["code"]
        p.exchange(code)
        with pytest.raises(ProviderError) as reused:
            p.exchange(code)
        assert reused.value.status == 400


def test_an_unreachable_provider_is_a_provider_error(http):
    with GitHubFake() as fake:
        origin = fake.origin
    p = adapter("github", http, origin=origin)
    with pytest.raises(ProviderError) as failed:
        p.exchange("code")
    assert failed.value.status == 424
    assert failed.value.message.startswith(
        "Failed to obtain access token. The GitHub OAuth2 provider returned an error: Connection failed:"
    )


@pytest.mark.parametrize(
    "body, message",
    [
        ('{"error": "invalid_grant", "error_description": "Bad code"}', "invalid_grant: Bad code"),
        ('{"error": "invalid_client"}', "invalid_client: No description"),
        ('{"message": "Bad credentials"}', "Bad credentials: No description"),
        ('{"error": {"status": "UNAUTHENTICATED", "message": "Expired"}}', "UNAUTHENTICATED: Expired"),
        ('{"error": {"message": "Invalid OAuth access token."}}', "Unknown error: Invalid OAuth access token."),
        ('{"message": "Validation Failed", "errors": [{"message": "bad field"}]}', "Validation Failed: bad field"),
        ('{"errors": []}', "Unknown error: No description"),
        ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_error_bodies_are_worded_as_appwrite_words_them(body, message):
    assert error_message(body) == message

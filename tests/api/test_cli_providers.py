"""`nib providers set | list | disable`: a project's OAuth2 providers from the command line, the
secret read from a file or stdin, checked, stored sealed and never printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import sqlalchemy as sa
from oauth2_support import new_project, nib_cli

from live_server import free_port
from nib.account.tables import oauth2_providers

OIDC_SECRET = json.dumps(
    {
        "clientSecret": "oidc-client-secret-42",
        "wellKnownEndpoint": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
)


def _set(server, project: str, provider: str, *args: str, stdin: str | None = None):
    return nib_cli(server, "providers", "set", "--project", project, provider, *args, stdin=stdin)


def test_set_from_a_file_list_and_disable_never_print_the_secret(server, tmp_path, db):
    project = new_project(server)
    secret_file = tmp_path / "github.secret"
    secret_file.write_text("gh-secret-value-123\n")
    done = _set(server, project, "github", "--app-id", "Iv1.abc", "--secret-file", str(secret_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"github enabled for project {project}"
    done = _set(server, project, "oidc", "--app-id", "nib-app", "--secret-file", "-", "--disabled", stdin=OIDC_SECRET)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"oidc disabled for project {project}"

    listed = nib_cli(server, "providers", "list", "--project", project)
    assert listed.stdout.splitlines() == ["github\tIv1.abc\tenabled", "oidc\tnib-app\tdisabled"]
    as_json = json.loads(nib_cli(server, "providers", "list", "--project", project, "--json").stdout)
    assert [(p["provider"], p["appId"], p["enabled"]) for p in as_json] == [
        ("github", "Iv1.abc", True),
        ("oidc", "nib-app", False),
    ]
    assert all(set(p) == {"$id", "$createdAt", "$updatedAt", "provider", "appId", "enabled"} for p in as_json)

    disabled = nib_cli(server, "providers", "disable", "--project", project, "github")
    assert disabled.returncode == 0, disabled.stderr
    assert (
        nib_cli(server, "providers", "list", "--project", project).stdout.splitlines()[0] == "github\tIv1.abc\tdisabled"
    )
    again = _set(server, project, "github", "--app-id", "Iv1.new", "--secret-file", "-", stdin="gh-secret-value-456")
    assert again.returncode == 0
    assert (
        nib_cli(server, "providers", "list", "--project", project).stdout.splitlines()[0] == "github\tIv1.new\tenabled"
    )

    with db.read() as conn:
        stored = conn.execute(
            sa.select(oauth2_providers.c.provider, oauth2_providers.c.secret)
            .where(oauth2_providers.c.project_id == project)
            .order_by(oauth2_providers.c.seq)
        ).all()
    assert [row.provider for row in stored] == ["github", "oidc"]
    for row in stored:
        assert row.secret.startswith("v1.") and "secret" not in row.secret


def test_bad_input_is_refused_and_nothing_is_stored(server, db):
    project = new_project(server)
    cases = [
        ("nosuch", "x", "Invalid `provider` param: Value must be one of (amazon, apple"),
        ("oidc", "not json", "Invalid `secret` param: the oidc secret must be a JSON object"),
        (
            "oidc",
            '{"wellKnownEndpoint": "http://127.0.0.1/x"}',
            "Invalid `secret` param: the oidc secret needs clientSecret",
        ),
        ("oidc", '{"clientSecret": "s"}', "the oidc secret needs wellKnownEndpoint, or authorizationEndpoint"),
        ("oidc", '{"clientSecret": "s", "wellKnownEndpoint": "nope"}', "wellKnownEndpoint must be an absolute URL"),
        ("apple", '{"keyID": "K", "teamID": "T"}', "the apple secret needs p8"),
        ("microsoft", "[]", "the microsoft secret must be a JSON object"),
        ("gitlab", "{}", "the gitlab secret needs clientSecret"),
        ("github", "", "Invalid `secret` param"),
    ]
    for provider, secret, message in cases:
        done = _set(server, project, provider, "--app-id", "app", "--secret-file", "-", stdin=secret)
        assert done.returncode == 1, (provider, secret)
        assert message in done.stderr and "(general_argument_invalid)" in done.stderr
        assert secret not in done.stdout or not secret
    unknown = _set(server, "nosuchproject", "github", "--app-id", "a", "--secret-file", "-", stdin="s")
    assert unknown.returncode == 1 and "(project_not_found)" in unknown.stderr
    not_set = nib_cli(server, "providers", "disable", "--project", project, "google")
    assert not_set.returncode == 1 and f"Provider 'google' is not configured in project '{project}'." in not_set.stderr
    no_secret_arg = nib_cli(server, "providers", "set", "--project", project, "github", "--app-id", "a")
    assert no_secret_arg.returncode == 2 and "--secret-file" in no_secret_arg.stderr
    with db.read() as conn:
        assert (
            conn.execute(sa.select(oauth2_providers.c.seq).where(oauth2_providers.c.project_id == project)).all() == []
        )


def test_serve_refuses_to_start_with_unreadable_oauth2_origins(tmp_path):
    """A test rig's NIB_OAUTH2_ORIGINS that is not a JSON object of origins stops `nib serve` at
    start, instead of every sign-in failing later."""
    command = [sys.executable, "-m", "nib", "serve", "--port", str(free_port()), "--data-dir", str(tmp_path)]
    for value in ("{github: 1}", '["http://127.0.0.1:9"]', '{"github": 9}'):
        started = subprocess.run(
            command, capture_output=True, text=True, timeout=60, env={**os.environ, "NIB_OAUTH2_ORIGINS": value}
        )
        assert started.returncode != 0
        assert "NIB_OAUTH2_ORIGINS must be a JSON object" in started.stderr, started.stderr

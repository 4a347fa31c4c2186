"""`nib platforms add | list | remove` against a live server's storage, the `localhost`
platform of the bootstrap project, and the migration step that gives it to existing databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from web_support import new_project, uid

import nib.data.db.migrate
from live_server import BACKENDS, create_pg_database, drop_pg_database
from nib.auth.tables import platforms, projects
from nib.data.db import Database
from nib.tools import dates

INVALID_HOSTNAME = "Invalid `hostname` param: Value must be a valid hostname without path, port and protocol."


def rows(server, project_id: str) -> list[list[str]]:
    listed = server.cli("platforms", "list", "--project", project_id)
    return [line.split("\t") for line in listed.stdout.splitlines()]


def test_default_project_has_localhost(server):
    listed = json.loads(server.cli("platforms", "list", "--project", "default", "--json").stdout)
    assert [(p["hostname"], p["name"], p["type"], p["projectId"]) for p in listed] == [
        ("localhost", "Localhost", "web", "default")
    ]


def test_new_project_has_no_platforms(server):
    project_id = new_project(server)
    assert rows(server, project_id) == []
    assert json.loads(server.cli("platforms", "list", "--project", project_id, "--json").stdout) == []


def test_add_list_and_remove_by_hostname(server):
    project_id = new_project(server)
    added = server.cli("platforms", "add", "--project", project_id, "--hostname", "app.example.com", "--name", "App")
    platform_id = added.stdout.strip()
    assert len(platform_id) == 20
    assert rows(server, project_id) == [[platform_id, "app.example.com", "App"]]

    server.cli("platforms", "remove", "--project", project_id, "--hostname", "app.example.com")
    assert rows(server, project_id) == []


def test_add_json_lowercases_and_names_after_the_hostname(server):
    project_id = new_project(server)
    added = server.cli("platforms", "add", "--project", project_id, "--hostname", "*.Apps.Example.ORG", "--json")
    platform = json.loads(added.stdout)
    assert platform["hostname"] == "*.apps.example.org"
    assert platform["name"] == "*.apps.example.org"
    assert platform["type"] == "web"
    assert platform["projectId"] == project_id
    assert platform["$createdAt"] == platform["$updatedAt"] and platform["$createdAt"].endswith("+00:00")
    listed = json.loads(server.cli("platforms", "list", "--project", project_id, "--json").stdout)
    assert listed == [platform]


def test_list_keeps_the_order_of_addition(server):
    project_id = new_project(server, "b.example.com", "a.example.com", "*")
    assert [row[1] for row in rows(server, project_id)] == ["b.example.com", "a.example.com", "*"]


def test_remove_by_id(server):
    project_id = new_project(server, "keep.example.com")
    platform_id = server.cli(
        "platforms", "add", "--project", project_id, "--hostname", "drop.example.com"
    ).stdout.strip()
    server.cli("platforms", "remove", "--project", project_id, "--id", platform_id)
    assert [row[1] for row in rows(server, project_id)] == ["keep.example.com"]


def test_duplicate_hostname_fails(server):
    project_id = new_project(server, "app.example.com")
    again = server.cli("platforms", "add", "--project", project_id, "--hostname", "APP.example.com", check=False)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"error: Platform 'app.example.com' already exists in project '{project_id}'. (document_already_exists)"
    )
    assert [row[1] for row in rows(server, project_id)] == ["app.example.com"]


def test_same_hostname_in_two_projects(server):
    first = new_project(server, "shared.example.com")
    second = new_project(server, "shared.example.com")
    assert [row[1] for row in rows(server, first)] == [row[1] for row in rows(server, second)] == ["shared.example.com"]


@pytest.mark.parametrize(
    "hostname",
    ["https://app.example.com", "app.example.com:3000", "app.example.com/path", "-app.example.com", "a..b", "*app.com"],
)
def test_invalid_hostname_fails(server, hostname):
    project_id = new_project(server)
    result = server.cli("platforms", "add", "--project", project_id, "--hostname", hostname, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {INVALID_HOSTNAME} (general_argument_invalid)"
    assert rows(server, project_id) == []


def test_name_longer_than_128_chars_fails(server):
    project_id = new_project(server)
    result = server.cli(
        "platforms", "add", "--project", project_id, "--hostname", "app.example.com", "--name", "n" * 129, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: Invalid `name` param: Value must be a valid string and at least 1 chars and no longer than 128 chars"
        " (general_argument_invalid)"
    )
    assert rows(server, project_id) == []


def test_add_to_unknown_project_fails(server):
    result = server.cli("platforms", "add", "--project", uid("nope"), "--hostname", "app.example.com", check=False)
    assert result.returncode == 1
    assert "(project_not_found)" in result.stderr


def test_remove_unknown_fails_and_touches_nothing(server):
    project_id = new_project(server, "app.example.com")
    missing = server.cli("platforms", "remove", "--project", project_id, "--hostname", "other.example.com", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"error: Platform 'other.example.com' not found in project '{project_id}'. (general_argument_invalid)"
    )
    # another project's platform is not removed through this one
    other = new_project(server)
    wrong = server.cli("platforms", "remove", "--project", other, "--hostname", "app.example.com", check=False)
    assert wrong.returncode == 1
    assert [row[1] for row in rows(server, project_id)] == ["app.example.com"]


def test_remove_needs_exactly_one_of_hostname_and_id(server):
    project_id = new_project(server, "app.example.com")
    neither = server.cli("platforms", "remove", "--project", project_id, check=False)
    both = server.cli(
        "platforms", "remove", "--project", project_id, "--hostname", "app.example.com", "--id", "x", check=False
    )
    for result in (neither, both):
        assert result.returncode == 2
        assert "give exactly one of --hostname and --id" in result.stderr
    assert [row[1] for row in rows(server, project_id)] == ["app.example.com"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_gives_an_existing_default_project_localhost(backend, tmp_path):
    pg_name = create_pg_database() if backend == "postgresql" else None
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_name}" if pg_name else f"sqlite:///{tmp_path / 'nib.db'}"
    db = Database(url, pool_size=2)
    try:
        config = Config()
        config.set_main_option("script_location", str(Path(nib.data.db.migrate.__file__).parent / "migrations"))
        with db.write() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")  # a database made before platforms existed
            now = dates.now()
            for project_id in ("default", "other"):
                conn.execute(
                    projects.insert().values(
                        id=project_id, name=project_id, enabled=True, created_at=now, updated_at=now
                    )
                )
        nib.data.db.migrate.upgrade(db)
        with db.read() as conn:
            found = conn.execute(sa.select(platforms.c.project_id, platforms.c.hostname, platforms.c.name)).all()
        assert [tuple(row) for row in found] == [("default", "localhost", "Localhost")]
    finally:
        db.dispose()
        if pg_name:
            drop_pg_database(pg_name)

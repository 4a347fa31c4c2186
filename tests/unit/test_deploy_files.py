"""The deployment files (Dockerfile, compose.yaml, deploy/, docs/deploy.md) linted by real tools
and held to nib itself: hadolint on the Dockerfile, the compose spec's JSON schema (vendored by
check-jsonschema) on compose.yaml, `systemd-analyze verify` on the unit, `caddy validate` and
`nginx -t` on the proxy configurations; and every NIB_* variable and `nib` option they name must
be one nib reads, so the files cannot drift from the code."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEPLOY_FILES = [
    ROOT / "Dockerfile",
    ROOT / "compose.yaml",
    ROOT / "docs" / "deploy.md",
    *sorted((ROOT / "deploy").iterdir()),
]
NIB_NAME = re.compile(r"\bNIB_[A-Z0-9_]*[A-Z0-9]\b")


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=120, **kwargs)


def tool(name: str) -> str:
    """A linter from the test extras (in the venv) or a Debian package .ci/run installs."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}/usr/sbin{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, f"{name} is not installed (pip install -e '.[test]'; Debian packages: see .ci/run)"
    return found


def settings_nib_reads() -> set[str]:
    sources = (ROOT / "src/nib/tools/config.py").read_text() + (ROOT / "src/nib/cli.py").read_text()
    return set(re.findall(r"""(?:environ\.get\(|envvar=)"(NIB_[A-Z0-9_]+)""", sources))


# -- Dockerfile ----------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint():
    linted = run(tool("hadolint"), ROOT / "Dockerfile")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_dockerfile_runs_nib_unprivileged_with_a_health_check_and_a_data_volume():
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    users = [value for name, value in instructions if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert parser.baseimage.startswith("python:") and "slim" in parser.baseimage
    env = parser.envs
    assert env["NIB_HOST"] == "0.0.0.0"
    assert [value for name, value in instructions if name == "EXPOSE"] == [env["NIB_PORT"]]
    assert [value for name, value in instructions if name == "VOLUME"] == [f'["{env["NIB_DATA_DIR"]}"]']
    (healthcheck,) = [value for name, value in instructions if name == "HEALTHCHECK"]
    assert '"python", "-c"' in healthcheck and "/v1/health" in healthcheck and "NIB_PORT" in healthcheck
    installs = " ".join(value for name, value in instructions if name == "RUN")
    assert "libmagic1" in installs  # python-magic's library; libvips and libpq come in wheels
    assert re.search(r"pip install --no-cache-dir /tmp/nib\b", installs)
    assert [value for name, value in instructions if name == "CMD"] == ['["nib", "serve"]']
    # What the image copies is what .dockerignore lets in.
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] == "!"]
    copied = {part for name, value in instructions if name == "COPY" for part in value.split()[:-1]}
    assert copied == set(allowed)


# -- compose.yaml ---------------------------------------------------------------------------------


def test_compose_matches_the_compose_spec_schema():
    checked = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", ROOT / "compose.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_services_fit_together():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for needed in service.get("depends_on", {}):
            assert needed in services, (name, needed)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") and (ROOT / source).exists() or source in compose["volumes"], volume
    nodes = [name for name, service in services.items() if service.get("build") == "."]
    assert nodes == ["nib1", "nib2"]
    for node in nodes:
        env = services[node]["environment"]
        assert env["NIB_STORAGE_DEVICE"] == "s3" and env["NIB_S3_BUCKET"] == "nib"
        assert env["NIB_DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["NIB_DATABASE_URL"]
        assert env["NIB_REDIS_URL"] == "redis://redis:6379/0"
        assert env["NIB_S3_ENDPOINT"] == "http://minio:9000"
        assert "ports" not in services[node]  # reached through the proxy only
        assert set(services[node]["depends_on"]) == {"postgres", "redis", "minio-bucket"}
    assert "local/nib" in " ".join(services["minio-bucket"]["entrypoint"])
    proxy = services["proxy"]
    assert proxy["environment"]["UPSTREAMS"].split() == [f"{node}:8080" for node in nodes]
    assert set(proxy["depends_on"]) == set(nodes)


# -- systemd, Caddy, nginx ----------------------------------------------------------------------


def test_systemd_unit_verifies(tmp_path):
    unit = (ROOT / "deploy/nib.service").read_text()
    (exec_start,) = re.findall(r"^ExecStart=(\S+) (.*)$", unit, re.M)
    assert exec_start[0] == "/opt/nib/venv/bin/nib"
    # systemd-analyze checks that ExecStart's program exists: this venv's nib stands in for it.
    (tmp_path / "nib.service").write_text(unit.replace(exec_start[0], str(BIN / "nib")))
    verified = run(tool("systemd-analyze"), "verify", tmp_path / "nib.service")
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
    assert re.search(r"^User=nib$", unit, re.M) and re.search(r"^Restart=on-failure$", unit, re.M)
    assert re.search(r"^ProtectSystem=strict$", unit, re.M) and re.search(r"^StateDirectory=nib$", unit, re.M)
    assert "--host 127.0.0.1" in exec_start[1] and "--data-dir /var/lib/nib" in exec_start[1]


def test_caddyfile_validates_with_one_or_several_upstreams(tmp_path):
    caddy = tool("caddy")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    for upstreams, dials in (("", ["127.0.0.1:8080"]), ("nib1:8080 nib2:8080", ["nib1:8080", "nib2:8080"])):
        env.update(DOMAIN="api.example.com", UPSTREAMS=upstreams) if upstreams else env.pop("UPSTREAMS", None)
        config = ["--config", str(ROOT / "deploy/Caddyfile"), "--adapter", "caddyfile"]
        validated = run(caddy, "validate", *config, env=env)
        assert validated.returncode == 0, validated.stderr
        adapted = run(caddy, "adapt", *config, env=env)
        assert [f'{{"dial":"{dial}"}}' in adapted.stdout for dial in dials] == [True] * len(dials), adapted.stdout
        assert '"uri":"/v1/health"' in adapted.stdout


def test_nginx_conf_passes_nginx_t(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = x509.CertificateBuilder(
        name, name, key.public_key(), x509.random_serial_number(), now, now + datetime.timedelta(days=1)
    ).sign(key, hashes.SHA256())
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    site = (ROOT / "deploy/nginx.conf").read_text()
    live = "/etc/letsencrypt/live/api.example.com/"
    assert f"{live}fullchain.pem" in site and f"{live}privkey.pem" in site
    site = site.replace(f"{live}fullchain.pem", str(tmp_path / "cert.pem"))
    (tmp_path / "site.conf").write_text(site.replace(f"{live}privkey.pem", str(tmp_path / "key.pem")))
    # The site file goes inside nginx's http block, as in /etc/nginx/conf.d/.
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    tested = run(tool("nginx"), "-t", "-q", "-c", tmp_path / "nginx.conf", "-p", tmp_path)
    assert tested.returncode == 0, tested.stderr
    # nib trusts the first X-Forwarded-For address: the proxy must replace the header, not append.
    directives = "\n".join(line for line in site.splitlines() if not line.lstrip().startswith("#"))
    assert "$proxy_add_x_forwarded_for" not in directives
    assert directives.count("proxy_set_header X-Forwarded-For $remote_addr;") == 2


# -- names the files use ------------------------------------------------------------------------


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_nib_setting_named_is_one_nib_reads(path):
    named = set(NIB_NAME.findall(path.read_text()))
    assert named <= settings_nib_reads(), sorted(named - settings_nib_reads())


NIB_COMMAND = re.compile(
    r"^(?:ExecStart=)?(?:[A-Z_]+=\S+ )*(?:sudo -u nib )?(?:docker compose (?:exec|run --rm) \S+ )?(?:\S*/)?nib"
    r"((?: [^\s|&;]+)+)"
)


def nib_commands() -> list[str]:
    """The `nib …` commands of the guide's shell blocks and the unit's ExecStart."""
    guide = (ROOT / "docs/deploy.md").read_text()
    texts = re.findall(r"^```(?:sh|bash)\n(.*?)^```", guide, re.M | re.S)
    texts.append((ROOT / "deploy/nib.service").read_text())
    lines = [line.split(" #")[0].strip() for text in texts for line in text.replace("\\\n", " ").splitlines()]
    return [match[1] for line in lines if (match := NIB_COMMAND.match(line))]


def test_every_nib_command_in_the_guide_has_the_options_it_uses():
    commands = nib_commands()
    assert len(commands) >= 8, commands
    helps: dict[tuple[str, ...], str] = {}
    for command in commands:
        words = command.split()
        path = tuple(word for word in words[:2] if re.fullmatch(r"[a-z][a-z-]*", word))
        while path and path not in helps:
            shown = run(BIN / "nib", *path, "--help")
            if shown.returncode == 0:
                helps[path] = shown.stdout
            else:
                path = path[:-1]
        assert path, f"not a nib command: nib{command}"
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", command):
            assert re.search(rf"(?<![\w-]){option}\b", helps[path]), f"nib{command}: no option {option}"

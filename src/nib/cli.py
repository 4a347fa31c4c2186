"""The ``nib`` command: serve the API and manage projects, keys, web platforms and OAuth2 providers.

Every option also reads ``NIB_<OPTION>`` from the environment.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import click

from .account.oauth2 import config as oauth2_config
from .auth import admins
from .auth import platforms as platform_service
from .auth import projects as project_service
from .data.batches import BATCH
from .data.db import Database
from .data.db.migrate import upgrade
from .http import ratelimit
from .operations import appwrite
from .operations.exchange import KINDS, ExportReader
from .operations.exports import export_project
from .operations.imports import ON_CONFLICT, import_export
from .operations.progress import progress
from .storage.devices import Device, open_device
from .tools import logs, metrics
from .tools.config import Settings
from .tools.errors import AppwriteError
from .tools.validators import KEY_DESCRIPTION, is_key


def _storage_options(command):
    command = click.option(
        "--database-url",
        envvar="NIB_DATABASE_URL",
        default=None,
        help="postgresql://… (default: SQLite in the data dir)",
    )(command)
    command = click.option(
        "--data-dir", envvar="NIB_DATA_DIR", default="./data", show_default=True, type=click.Path(file_okay=False)
    )(command)
    return command


def _open(data_dir: str, database_url: str | None) -> tuple[Settings, Database]:
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url, pool_size=2)
    upgrade(db)
    return settings, db


def _check_overrides(context: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse bad rate-limit overrides at start-up, before any request meets them."""
    try:
        ratelimit.with_overrides(value)
    except ValueError as error:
        raise click.BadParameter(str(error), context, param) from None
    return value


def _parsed(
    context: click.Context, param: click.Parameter, value: str | None, parse: Callable[[str], float]
) -> float | None:
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as error:
        raise click.BadParameter(str(error), context, param) from None


def _duration(context: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from .operations.schedule import parse_duration

    return _parsed(context, param, value, parse_duration)


def _cleanup_options(command):
    """The clean-up's ages, shared by `nib serve` (the scheduled job) and `nib cleanup`."""
    command = click.option(
        "--audit-retention",
        envvar="NIB_AUDIT_RETENTION",
        default="14d",
        show_default=True,
        callback=_duration,
        help="audit log entries older than this are deleted by the clean-up",
    )(command)
    command = click.option(
        "--upload-abandoned-after",
        envvar="NIB_UPLOAD_ABANDONED_AFTER",
        default="3d",
        show_default=True,
        callback=_duration,
        help="chunked uploads no chunk reached for this long are deleted (rows and parts) by the clean-up",
    )(command)
    return command


def _rate(context: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from .operations.backups import parse_rate

    return _parsed(context, param, value, parse_rate)


_MAX_RATE_HELP = (
    "copy at most this many bytes a second (150M: 150 MB/s; k, M, G), leaving the rest of the disk's"
    " bandwidth to the server; default: as fast as the disk goes"
)


def _every_or_off(context: click.Context, param: click.Parameter, value: str) -> float | None:
    return None if value.strip().lower() == "off" else _duration(context, param, value)


def _fail(error: AppwriteError) -> None:
    click.echo(f"error: {error.message} ({error.type})", err=True)
    sys.exit(1)


@contextmanager
def _reported() -> Iterator[None]:
    """A service's refusal ends the command: its message on stderr, exit status 1."""
    try:
        yield
    except AppwriteError as error:
        _fail(error)


@click.group()
def main() -> None:
    """nib: an Appwrite-compatible backend in one process."""


@main.command()
@click.option("--host", envvar="NIB_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="NIB_PORT", default=8080, show_default=True, type=int)
@click.option("--workers", envvar="NIB_WORKERS", default=1, show_default=True, type=int)
@click.option(
    "--rate-limits",
    envvar="NIB_RATE_LIMITS",
    type=click.Choice(["on", "off"], case_sensitive=False),
    default="on",
    show_default=True,
    help="enforce Appwrite's abuse limits; off for test rigs (X-RateLimit-* headers still sent)",
)
@click.option(
    "--rate-limits-overrides",
    envvar="NIB_RATE_LIMITS_OVERRIDES",
    default="",
    callback=_check_overrides,
    help='per-route limits as JSON, e.g. \'{"POST /v1/account": {"limit": 20, "period": 3600}}\'',
)
@click.option(
    "--console",
    envvar="NIB_CONSOLE",
    type=click.Choice(["on", "off"], case_sensitive=False),
    default="on",
    show_default=True,
    help="the web console at /console",
)
@click.option(
    "--shutdown-timeout",
    envvar="NIB_SHUTDOWN_TIMEOUT",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="seconds requests in flight at SIGTERM get to finish; those still running then are cut",
)
@click.option(
    "--backup-every",
    envvar="NIB_BACKUP_EVERY",
    default=None,
    callback=_duration,
    help="take a backup this often (30s, 15m, 24h, 7d), from one process of all those on the database",
)
@click.option(
    "--backup-to", envvar="NIB_BACKUP_TO", default=None, help="where scheduled backups go: DIR or s3://bucket/prefix"
)
@click.option(
    "--backup-max-rate",
    envvar="NIB_BACKUP_MAX_RATE",
    default=None,
    metavar="RATE",
    callback=_rate,
    help=f"scheduled backups: {_MAX_RATE_HELP}",
)
@click.option(
    "--backup-keep",
    envvar="NIB_BACKUP_KEEP",
    default=7,
    show_default=True,
    type=click.IntRange(min=1),
    help="scheduled backups kept at --backup-to; older ones are pruned",
)
@click.option(
    "--cleanup-every",
    envvar="NIB_CLEANUP_EVERY",
    default="1h",
    show_default=True,
    callback=_every_or_off,
    help="run the clean-up (see `nib cleanup`) this often, from one process of all those on the database; off: never",
)
@_cleanup_options
@click.option(
    "--metrics-port",
    envvar="NIB_METRICS_PORT",
    default=None,
    type=click.IntRange(1, 65535),
    help="serve Prometheus metrics of every worker on this port (off by default; see also NIB_METRICS_TOKEN)",
)
@click.option(
    "--metrics-host",
    envvar="NIB_METRICS_HOST",
    default="127.0.0.1",
    show_default=True,
    help="the address of the metrics listener (loopback: only this machine may scrape)",
)
@click.option(
    "--log-format",
    envvar="NIB_LOG_FORMAT",
    type=click.Choice(["text", "json"], case_sensitive=False),
    default="text",
    show_default=True,
    help="nib's log lines (access log included): text, or one JSON object per line",
)
@click.option(
    "--access-log/--no-access-log",
    envvar="NIB_ACCESS_LOG",
    default=True,
    show_default=True,
    help="one line per request on stderr (NIB_ACCESS_LOG=off turns it off)",
)
@_storage_options
def serve(
    host: str,
    port: int,
    workers: int,
    rate_limits: str,
    rate_limits_overrides: str,
    console: str,
    shutdown_timeout: float,
    backup_every: float | None,
    backup_to: str | None,
    backup_max_rate: float | None,
    backup_keep: int,
    cleanup_every: float | None,
    upload_abandoned_after: float,
    audit_retention: float,
    metrics_port: int | None,
    metrics_host: str,
    log_format: str,
    access_log: bool,
    data_dir: str,
    database_url: str | None,
) -> None:
    """Migrate the database and serve the API under /v1.

    Rate-limit counters live in each process's memory unless NIB_REDIS_URL is set: with
    --workers N, use Redis so that the workers share them.

    SIGTERM (or Ctrl-C) stops accepting connections, lets the requests in flight finish for up
    to --shutdown-timeout seconds, and exits with status 0.

    With --backup-every and --backup-to, backups are taken on that schedule (see `nib backup`).
    The clean-up runs every --cleanup-every (see `nib cleanup`).

    Metrics (Prometheus text, summed over the workers) are on with --metrics-port (a listener of
    this process, loopback by default) or NIB_METRICS_TOKEN (GET /v1/metrics with
    `Authorization: Bearer <token>`); off, nothing of them is loaded.
    """
    if (backup_every is None) != (backup_to is None):
        raise click.UsageError("--backup-every and --backup-to go together")
    import uvicorn

    # For the app's Settings.from_env, in this process and in every worker.
    os.environ["NIB_RATE_LIMITS"] = rate_limits.lower()
    os.environ["NIB_WORKERS"] = str(workers)
    os.environ["NIB_RATE_LIMITS_OVERRIDES"] = rate_limits_overrides
    os.environ["NIB_CONSOLE"] = console.lower()
    os.environ["NIB_LOG_FORMAT"] = log_format.lower()
    os.environ["NIB_ACCESS_LOG"] = "on" if access_log else "off"
    # OAuth2 callbacks are built from the public URL: unset, it is the listening address.
    os.environ.setdefault("NIB_PUBLIC_URL", f"http://{host}:{port}")
    settings, db = _open(data_dir, database_url)
    try:
        open_device(settings)
        settings.oauth2_origin_map()
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    key = project_service.bootstrap(db)
    setup = admins.new_setup_token(db) if console.lower() == "on" else None
    db.dispose()
    logs.configure(log_format.lower())  # the scheduled jobs' lines, and the only worker's with --workers 1
    for job in ("nib.backups", "nib.cleanup"):  # a backup taken, a clean-up's counts: one line each
        logging.getLogger(job).setLevel(logging.INFO)
    _start_metrics(metrics_host, metrics_port)
    endpoint = f"http://{host}:{port}/v1"
    if key:
        click.echo("Created project 'default' and an API key with every scope (shown once):")
        click.echo(f"  endpoint: {endpoint}\n  project:  default\n  key:      {key['secret']}")
        click.echo("Use it: client.set_endpoint('%s').set_project('default').set_key('<key>')" % endpoint)
    if setup:
        public = os.environ["NIB_PUBLIC_URL"].rstrip("/")
        click.echo("No console administrator yet. Create the first one within the hour at (one use only):")
        click.echo(f"  {public}/console/setup?token={setup}")
    elif setup == "":
        click.echo("No console administrator yet: another nib process starting now printed the set-up link.")
    click.echo(f"nib serving {endpoint} ({'PostgreSQL' if database_url else 'SQLite in ' + str(settings.data_dir)})")
    # Workers are separate processes: hand them the settings through the environment.
    os.environ["NIB_DATA_DIR"] = str(settings.data_dir.resolve())
    if database_url:
        os.environ["NIB_DATABASE_URL"] = database_url
    # uvicorn drains, then raises SIGTERM again for the handler it found: a stop that was asked
    # for and drained is a success, so that handler exits with 0 instead of dying by the signal.
    signal.signal(signal.SIGTERM, _exit_stopped)
    if backup_every is not None and backup_to is not None:
        from .operations.schedule import Scheduler

        Scheduler(
            Database(settings.resolved_database_url, pool_size=1),
            settings,
            backup_every,
            backup_to,
            backup_keep,
            [
                *_storage_args(data_dir, database_url),
                *(["--max-rate", f"{backup_max_rate:.0f}"] if backup_max_rate is not None else []),
            ],
        ).start()
    if cleanup_every is not None:
        from .operations.cleanup import Cleanup

        Cleanup(
            Database(settings.resolved_database_url, pool_size=1),
            open_device(settings),
            cleanup_every,
            abandoned_after=upload_abandoned_after,
            audit_retention=audit_retention,
        ).start()
    uvicorn.run(
        "nib.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="nib.http.zerocopy:ZeroCopyHttpProtocol",  # httptools, plus sendfile for downloads
        access_log=False,
        # Realtime fans one event out to many sockets: compressing each frame per connection
        # would cost CPU per subscriber and zlib state (tens of KB) per idle connection.
        ws_per_message_deflate=False,
        # The sans-I/O protocol: its connections are what http/wsframes.py writes frames to.
        ws="websockets-sansio",
        log_level="warning",
        lifespan="on",
        # uvicorn annotates whole seconds, but hands the value to asyncio, which takes any.
        timeout_graceful_shutdown=shutdown_timeout,  # type: ignore[arg-type]
    )


def _start_metrics(host: str, port: int | None) -> None:
    """With --metrics-port or NIB_METRICS_TOKEN: metrics on, their values in a fresh directory
    (removed at exit) that the workers inherit, and the listener on HOST:PORT."""
    if port is None and not os.environ.get("NIB_METRICS_TOKEN"):
        return
    directory = tempfile.mkdtemp(prefix="nib-metrics-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    metrics.enable(directory)
    if port is not None:
        try:
            metrics.serve(host, port, directory)
        except OSError as error:
            raise click.ClickException(f"metrics listener on {host}:{port}: {error.strerror or error}") from None


def _exit_stopped(signum, frame) -> None:
    sys.exit(0)


def _storage_args(data_dir: str, database_url: str | None) -> list[str]:
    return ["--data-dir", str(Path(data_dir).resolve())] + (["--database-url", database_url] if database_url else [])


@contextmanager
def _operation() -> Iterator[None]:
    """A refused or failed backup/restore: one line on stderr, exit status 1, no traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from .operations.errors import OperationRefused

    try:
        yield
    except (OperationRefused, OSError) as error:
        _usage_error(str(error) or type(error).__name__)
    except SQLAlchemyError as error:
        _usage_error(f"database: {str(getattr(error, 'orig', None) or error).splitlines()[0]}")
    except Exception as error:
        # An S3 store's refusal (no such bucket, access denied): boto3 loads only when S3 is used.
        if not type(error).__module__.startswith("botocore."):
            raise
        _usage_error(str(error))


@main.group(invoke_without_command=True)
@click.option("--to", "to", default=None, metavar="DEST", help="a directory or s3://bucket/prefix")
@click.option("--project", "project_id", default=None, help="back up this project only (its rows and objects)")
@click.option("--max-rate", default=None, metavar="RATE", callback=_rate, help=_MAX_RATE_HELP)
@_storage_options
@click.pass_context
def backup(
    context: click.Context,
    to: str | None,
    project_id: str | None,
    max_rate: float | None,
    data_dir: str,
    database_url: str | None,
) -> None:
    """Back up the database (or one project) and every stored object to DEST while the server runs.

    Objects are stored once per content at DEST and shared by its backups (incremental). The last
    line on stdout: `backup NAME complete: database D bytes in S s; objects N (B bytes) in S s, R reused`.
    """
    if context.invoked_subcommand is not None:
        return
    if to is None:
        raise click.UsageError("give --to DEST (a directory or s3://bucket/prefix)")
    from .operations import backups
    from .operations.destinations import open_destination
    from .operations.progress import progress

    settings, db = _open(data_dir, database_url)
    backups.yield_to_server()
    with _operation(), progress() as shown:
        taken = backups.take(
            db, settings, open_device(settings, bulk=True), open_destination(to, settings), shown, project_id, max_rate
        )
    if taken.missing:
        click.echo(f"{taken.missing} files were deleted while the backup ran: left out", err=True)
    click.echo(
        f"backup {taken.name} complete: database {taken.database_bytes} bytes in {taken.database_seconds:.2f} s; "
        f"objects {taken.objects} ({taken.object_bytes} bytes) in {taken.objects_seconds:.2f} s, {taken.reused} reused"
    )


@backup.command("list")
@click.option("--from", "source", required=True, metavar="DEST", help="a directory or s3://bucket/prefix")
def backup_list(source: str) -> None:
    """The complete backups at DEST, oldest first: name, time, kind, size in bytes, objects (tab-separated)."""
    from .operations.backups import list_backups
    from .operations.destinations import open_destination

    with _operation():
        found = list_backups(open_destination(source, Settings.from_env()))
    for item in found:
        kind = item.kind if not item.projects else f"{item.kind}:{','.join(item.projects)}"
        click.echo(f"{item.name}\t{item.created}\t{kind}\t{item.size}\t{item.objects}")


@backup.command("prune")
@click.option("--from", "source", required=True, metavar="DEST", help="a directory or s3://bucket/prefix")
@click.option("--keep", required=True, type=click.IntRange(min=1), help="how many of the newest backups stay")
def backup_prune(source: str, keep: int) -> None:
    """Delete all but the KEEP newest complete backups at DEST, and the objects only they held.
    Refused while a backup to a directory DEST runs (its new objects are not referenced yet)."""
    from .operations.backups import prune
    from .operations.destinations import open_destination

    with _operation():
        gone, objects = prune(open_destination(source, Settings.from_env()), keep)
    click.echo(f"pruned {len(gone)} backups and {objects} objects")


@main.command()
@click.option("--from", "source", required=True, metavar="DEST", help="a directory or s3://bucket/prefix")
@click.option("--backup", "name", default=None, help="the backup's name (default: the newest complete one)")
@click.option(
    "--project",
    "project_id",
    default=None,
    help="restore this project (from a --project backup) into a running instance, replacing it",
)
@click.option(
    "--as", "as_id", default=None, metavar="NEWID", help="with --project: restore it as a new project NEWID instead"
)
@_storage_options
def restore(
    source: str, name: str | None, project_id: str | None, as_id: str | None, data_dir: str, database_url: str | None
) -> None:
    """Restore a full backup into an empty data dir or database (and the configured storage device),
    or with --project one project's backup into a running instance.

    Every checksum is verified first: a damaged backup, or one of a newer nib, changes nothing.
    """
    from .operations.destinations import open_destination
    from .operations.progress import progress
    from .operations.restore import chosen_backup, restore_full, restore_project

    if as_id is not None and project_id is None:
        raise click.UsageError("--as goes with --project")
    if project_id is not None:
        settings, db = _open(data_dir, database_url)
        with _operation(), progress() as shown:
            destination = open_destination(source, settings)
            chosen = chosen_backup(destination, name)
            manifest, left_out = restore_project(
                db, settings, open_device(settings), destination, chosen, project_id, as_id, shown
            )
        for table, count in sorted(left_out.items()):
            click.echo(
                f"{count} {table} rows left out (their object is not in the backup, or their secret is another project's)",
                err=True,
            )
        click.echo(
            f"restored project {project_id} as {as_id or project_id} from backup {chosen}: {len(manifest['objects'])} objects"
        )
        return
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    with _operation(), progress() as shown:
        destination = open_destination(source, settings)
        chosen = chosen_backup(destination, name)
        manifest = restore_full(settings, open_device(settings), destination, chosen, shown)
    for path in manifest["missing"]:
        click.echo(f"file object {path} was deleted while the backup ran: its file was left out", err=True)
    click.echo(f"restored backup {chosen}: {len(manifest['objects'])} objects")


def _kinds(context: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """``--only``: comma-separated kinds of the export format."""
    if value is None:
        return None
    kinds = [kind.strip() for kind in value.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise click.BadParameter(f"give kinds among {','.join(KINDS)}", context, param)
    return kinds


_ONLY_HELP = f"comma-separated kinds (default: all): {','.join(KINDS)}"
_on_conflict_option = click.option(
    "--on-conflict",
    type=click.Choice(ON_CONFLICT),
    default="skip",
    show_default=True,
    help="a record stored with other content (or a user's e-mail or phone taken): keep what is "
    "stored, replace it, or stop",
)


@main.command("export")
@click.option("--project", "project_id", required=True)
@click.option("--to", "destination", required=True, type=click.Path(path_type=Path), help="a directory, or FILE.tar")
@click.option("--only", default=None, callback=_kinds, help=_ONLY_HELP)
@_storage_options
def export_command(
    project_id: str, destination: Path, only: list[str] | None, data_dir: str, database_url: str | None
) -> None:
    """Write a project's users, teams, memberships, buckets and files (their original bytes) in
    nib's export format (docs/export-format.md). Run again on the same destination, it keeps the
    file objects already there."""
    settings, db = _open(data_dir, database_url)
    device = _device(settings)
    try:
        with progress() as shown:
            report = export_project(db, device, settings, destination, project_id=project_id, only=only, progress=shown)
    except (ValueError, OSError) as error:
        _usage_error(str(error))
    click.echo(report.render())
    sys.exit(1 if report.failed else 0)


@main.command("import")
@click.option("--project", "project_id", required=True, help="created, with the export's name, when missing")
@click.option("--from", "source", required=True, type=click.Path(path_type=Path), help="an export directory or .tar")
@click.option("--only", default=None, callback=_kinds, help=_ONLY_HELP)
@_on_conflict_option
@_storage_options
def import_command(
    project_id: str,
    source: Path,
    only: list[str] | None,
    on_conflict: str,
    data_dir: str,
    database_url: str | None,
) -> None:
    """Import an export into a project; re-running it finishes an interrupted import. Prints
    what came of each kind and every conflict and failure; exits with 1 when a record failed or
    a conflict stopped it (--on-conflict fail)."""
    settings, db = _open(data_dir, database_url)
    device = _device(settings)
    try:
        reader = ExportReader(source)
    except ValueError as error:
        _usage_error(str(error))
    try:
        with reader, _reported(), progress() as shown:
            report = import_export(
                db,
                device,
                reader,
                project_id=project_id,
                only=only,
                on_conflict=on_conflict,
                progress=shown,
                settings=settings,
            )
    except OSError as error:
        # The disk or the storage device failed: what was imported stays, a re-run goes on.
        _usage_error(f"the import stopped: {error}")
    click.echo(report.render())
    sys.exit(1 if report.failed else 0)


@main.command()
@_cleanup_options
@click.option(
    "--batch", default=BATCH, show_default=True, type=click.IntRange(min=1), help="rows deleted per statement"
)
@_storage_options
def cleanup(upload_abandoned_after: float, audit_retention: float, batch: int, data_dir: str, database_url: str | None):
    """Remove once what `nib serve` removes every --cleanup-every: abandoned chunked uploads (rows
    and parts), expired sessions, tokens, MFA and passkey challenges, console sessions, and audit
    log entries past --audit-retention. In batches of --batch rows, each its own short
    transaction, so it runs beside a serving nib. Prints how many of each kind went."""
    from .operations.cleanup import clean

    settings, db = _open(data_dir, database_url)
    with _operation():
        done = clean(
            db,
            _device(settings),
            abandoned_after=upload_abandoned_after,
            audit_retention=audit_retention,
            batch=batch,
        )
    for kind, sizes in done.items():
        click.echo(f"{kind}: {sum(sizes)}" + (f" (batches: {', '.join(map(str, sizes))})" if len(sizes) > 1 else ""))


def _device(settings: Settings) -> Device:
    try:
        return open_device(settings)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


@main.group()
def projects() -> None:
    """Create and list projects."""


@projects.command("create")
@click.argument("project_id")
@click.option("--name", required=True)
@_storage_options
def projects_create(project_id: str, name: str, data_dir: str, database_url: str | None) -> None:
    _, db = _open(data_dir, database_url)
    with _reported():
        row = project_service.create_project(db, project_id=project_id, name=name)
    click.echo(row["id"])


@projects.command("list")
@_storage_options
def projects_list(data_dir: str, database_url: str | None) -> None:
    _, db = _open(data_dir, database_url)
    for row in project_service.list_projects(db):
        click.echo(f"{row['id']}\t{row['name']}\t{'enabled' if row['enabled'] else 'disabled'}")


@projects.command("disable")
@click.argument("project_id")
@_storage_options
def projects_disable(project_id: str, data_dir: str, database_url: str | None) -> None:
    _, db = _open(data_dir, database_url)
    with _reported():
        project_service.set_project_enabled(db, project_id=project_id, enabled=False)


@projects.command("enable")
@click.argument("project_id")
@_storage_options
def projects_enable(project_id: str, data_dir: str, database_url: str | None) -> None:
    _, db = _open(data_dir, database_url)
    with _reported():
        project_service.set_project_enabled(db, project_id=project_id, enabled=True)


@projects.command("mfa-factors")
@click.argument("project_id")
@click.option(
    "--custom",
    type=click.Choice(["on", "off"]),
    default=None,
    help="allow the custom factor (codes the app's backend delivers; off by default)",
)
@_storage_options
def projects_mfa_factors(project_id: str, custom: str | None, data_dir: str, database_url: str | None) -> None:
    """Set or show the project's MFA-factors policy: one "factor<TAB>on|off" line each."""
    _, db = _open(data_dir, database_url)
    with _reported():
        if custom is not None:
            project_service.set_mfa_custom(db, project_id=project_id, enabled=custom == "on")
        with db.read() as conn:
            custom_on = project_service.mfa_custom_enabled(conn, project_id)
    for factor in ("totp", "email", "phone", "recoveryCode"):
        click.echo(f"{factor}\ton")
    click.echo(f"custom\t{'on' if custom_on else 'off'}")


# `nib projects set` options -> AuthPolicies fields: (option, field, kind), kind "int" or "switch".
_POLICY_OPTIONS = (
    ("--user-limit", "user_limit", "int", "most users the project may have; 0 = unlimited (sign-ups beyond: 400)"),
    ("--session-length", "session_length", "int", "seconds a new or extended session lasts (default 31536000)"),
    ("--sessions-limit", "sessions_limit", "int", "sessions a user keeps; the oldest go beyond it (default 10)"),
    ("--password-history", "password_history", "int", "how many previous passwords may not be reused; 0 = off"),
    ("--password-dictionary", "password_dictionary", "switch", "refuse the 10k most common passwords"),
    ("--personal-data-check", "personal_data_check", "switch", "refuse passwords containing the user's data"),
    ("--memberships-user-name", "memberships_user_name", "switch", "members see each other's names"),
    ("--memberships-user-email", "memberships_user_email", "switch", "members see each other's e-mails"),
    ("--memberships-mfa", "memberships_mfa", "switch", "members see each other's MFA status"),
)


def _policy_options(command):
    for option, field, kind, help_text in reversed(_POLICY_OPTIONS):
        metavar = "N" if kind == "int" else "on|off"
        command = click.option(option, field, default=None, metavar=metavar, help=help_text)(command)
    return command


def _usage_error(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _parsed_changes(values: dict[str, str | None], methods: tuple[str, ...]) -> dict:
    """The options given, as update_auth_policies keywords; a malformed one exits with 1."""
    changes: dict = {}
    for option, field, kind, _ in _POLICY_OPTIONS:
        raw = values.get(field)
        if raw is None:
            continue
        if kind == "int":
            try:
                changes[field] = int(raw)
            except ValueError:
                _usage_error(f"{option} must be a whole number, not {raw!r}")
        elif raw in ("on", "off"):
            changes[field] = raw == "on"
        else:
            _usage_error(f"{option} must be on or off, not {raw!r}")
    switched: dict[str, bool] = {}
    for item in methods:
        method, _, state = item.partition("=")
        if method not in project_service.AUTH_METHODS:
            _usage_error(f"--method: unknown method {method!r} (one of {', '.join(project_service.AUTH_METHODS)})")
        if state not in ("on", "off"):
            _usage_error(f"--method {item!r}: give NAME=on or NAME=off")
        switched[method] = state == "on"
    if switched:
        changes["methods"] = switched
    return changes


def _show_policies(db: Database, project_id: str) -> None:
    """Every policy and method, one "name<TAB>value" line each."""
    policies = project_service.auth_policies(db, project_id)
    with db.read() as conn:
        click.echo(f"name\t{project_service.project_name(conn, project_id)}")
    for option, field, kind, _ in _POLICY_OPTIONS:
        value = getattr(policies, field)
        click.echo(f"{option[2:]}\t{value if kind == 'int' else ('on' if value else 'off')}")
    for method in project_service.AUTH_METHODS:
        click.echo(f"method {method}\t{'on' if policies.methods[method] else 'off'}")


@projects.command("set")
@click.argument("project_id")
@click.option("--name", default=None, help="the project's name (1-128 characters)")
@_policy_options
@click.option(
    "--method",
    "methods",
    multiple=True,
    metavar="NAME=on|off",
    help=f"switch an auth method (repeatable): {', '.join(project_service.AUTH_METHODS)}",
)
@_storage_options
def projects_set(
    project_id: str, name: str | None, methods: tuple[str, ...], data_dir: str, database_url: str | None, **values
) -> None:
    """Change the project's name and auth policies (changes apply within a second), then print
    them all as `nib projects show` does."""
    changes = _parsed_changes(values, methods)
    _, db = _open(data_dir, database_url)
    with _reported():
        if name is not None:
            project_service.rename_project(db, project_id=project_id, name=name)
        if changes:
            project_service.update_auth_policies(db, project_id=project_id, **changes)
        _show_policies(db, project_id)


@projects.command("show")
@click.argument("project_id")
@_storage_options
def projects_show(project_id: str, data_dir: str, database_url: str | None) -> None:
    """Print the project's name, auth policies and auth methods: one "name<TAB>value" line each."""
    _, db = _open(data_dir, database_url)
    with _reported():
        _show_policies(db, project_id)


@main.group()
def keys() -> None:
    """Create, list and delete API keys."""


@keys.command("create")
@click.option("--project", "project_id", required=True)
@click.option("--name", required=True)
@click.option("--scopes", default=None, help="comma-separated (default: every scope)")
@click.option(
    "--expire",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    default=None,
    help="when the key stops working, UTC (default: never)",
)
@click.option("--json", "as_json", is_flag=True, help="print the whole key object")
@_storage_options
def keys_create(
    project_id: str,
    name: str,
    scopes: str | None,
    expire: datetime | None,
    as_json: bool,
    data_dir: str,
    database_url: str | None,
) -> None:
    """Create a key; its secret is the last line of stdout."""
    _, db = _open(data_dir, database_url)
    scope_list = [s.strip() for s in scopes.split(",") if s.strip()] if scopes is not None else None
    until = expire.replace(tzinfo=timezone.utc) if expire else None
    with _reported():
        key = project_service.create_key(db, project_id=project_id, name=name, scopes=scope_list, expire=until)
    if as_json:
        click.echo(json.dumps(key, indent=2))
    else:
        click.echo(f"key {key['$id']} for project {project_id} (scopes: {','.join(key['scopes'])})")
        click.echo(key["secret"])


@keys.command("list")
@click.option("--project", "project_id", required=True)
@_storage_options
def keys_list(project_id: str, data_dir: str, database_url: str | None) -> None:
    _, db = _open(data_dir, database_url)
    for key in project_service.list_keys(db, project_id=project_id):
        click.echo(f"{key['$id']}\t{key['name']}\t{','.join(key['scopes'])}")


@keys.command("delete")
@click.argument("key_id")
@click.option("--project", "project_id", required=True)
@_storage_options
def keys_delete(key_id: str, project_id: str, data_dir: str, database_url: str | None) -> None:
    _, db = _open(data_dir, database_url)
    with _reported():
        project_service.delete_key(db, project_id=project_id, key_id=key_id)


@main.group()
def platforms() -> None:
    """Add, list and remove web platforms: the hostnames browser apps may call from."""


@platforms.command("add")
@click.option("--project", "project_id", required=True)
@click.option("--hostname", required=True, help="e.g. app.example.com, or *.example.com for every subdomain")
@click.option("--name", default="", help="a label (default: the hostname)")
@click.option("--json", "as_json", is_flag=True, help="print the whole platform object")
@_storage_options
def platforms_add(
    project_id: str, hostname: str, name: str, as_json: bool, data_dir: str, database_url: str | None
) -> None:
    """Allow browser requests (CORS with credentials, writes) from HOSTNAME; prints its ID."""
    _, db = _open(data_dir, database_url)
    with _reported():
        platform = platform_service.add_platform(db, project_id=project_id, hostname=hostname, name=name)
    click.echo(json.dumps(platform, indent=2) if as_json else platform["$id"])


@platforms.command("list")
@click.option("--project", "project_id", required=True)
@click.option("--json", "as_json", is_flag=True, help="print a JSON array of platform objects")
@_storage_options
def platforms_list(project_id: str, as_json: bool, data_dir: str, database_url: str | None) -> None:
    """One platform a line: ID, hostname and name, tab-separated, in the order they were added."""
    _, db = _open(data_dir, database_url)
    rows = platform_service.list_platforms(db, project_id=project_id)
    _echo_rows(rows, as_json, lambda row: f"{row['$id']}\t{row['hostname']}\t{row['name']}")


@platforms.command("remove")
@click.option("--project", "project_id", required=True)
@click.option("--hostname", default=None)
@click.option("--id", "platform_id", default=None)
@_storage_options
def platforms_remove(
    project_id: str, hostname: str | None, platform_id: str | None, data_dir: str, database_url: str | None
) -> None:
    """Remove a platform, given its hostname or its ID."""
    if (hostname is None) == (platform_id is None):
        raise click.UsageError("give exactly one of --hostname and --id")
    _, db = _open(data_dir, database_url)
    with _reported():
        platform_service.remove_platform(db, project_id=project_id, hostname=hostname, platform_id=platform_id)


@main.group("admins")
def admins_group() -> None:
    """Manage the web console's administrators (they belong to no project)."""


@admins_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="shown in the console and its audit entries")
@_storage_options
def admins_create(email: str, name: str, data_dir: str, database_url: str | None) -> None:
    """Create an administrator. The password is asked for (twice) on a terminal, or read as the
    first line of standard input; it is never taken from the command line."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    _, db = _open(data_dir, database_url)
    with _reported():
        admin = admins.create_admin(db, email=email, password=password, name=name)
    click.echo(f"{admin.id}\t{admin.email}")


@admins_group.command("list")
@_storage_options
def admins_list(data_dir: str, database_url: str | None) -> None:
    """One administrator a line: ID, e-mail, name, tab-separated."""
    _, db = _open(data_dir, database_url)
    for row in admins.list_admins(db):
        click.echo(f"{row['id']}\t{row['email']}\t{row['name']}")


@admins_group.command("delete")
@click.argument("admin")
@_storage_options
def admins_delete(admin: str, data_dir: str, database_url: str | None) -> None:
    """Delete ADMIN (an ID or e-mail) and sign them out everywhere."""
    _, db = _open(data_dir, database_url)
    with _reported():
        deleted = admins.delete_admin(db, ref=admin)
    click.echo(f"deleted {deleted.email}")


@main.group()
def providers() -> None:
    """Configure a project's OAuth2 providers (sign in with GitHub, Google, OpenID Connect…)."""


@providers.command("set")
@click.option("--project", "project_id", required=True)
@click.argument("provider")
@click.option("--app-id", required=True, help="the client ID the provider gave the app")
@click.option(
    "--secret-file",
    required=True,
    type=click.File("r"),
    help="file holding the client secret ('-' = stdin): a plain string, or for oidc, microsoft, apple "
    "and gitlab the JSON Appwrite's console builds",
)
@click.option("--disabled", is_flag=True, help="store the settings but keep sign-in with the provider off")
@_storage_options
def providers_set(
    project_id: str, provider: str, app_id: str, secret_file, disabled: bool, data_dir: str, database_url: str | None
) -> None:
    """Create or replace PROVIDER's settings (enabled unless --disabled); the secret is stored
    encrypted and never printed."""
    secret = secret_file.read().strip()
    settings, db = _open(data_dir, database_url)
    with _reported():
        row = oauth2_config.set_provider(
            db, settings, project_id=project_id, provider=provider, app_id=app_id, secret=secret, enabled=not disabled
        )
    click.echo(f"{row['provider']} {'enabled' if row['enabled'] else 'disabled'} for project {project_id}")


@providers.command("list")
@click.option("--project", "project_id", required=True)
@click.option("--json", "as_json", is_flag=True, help="print a JSON array of provider objects")
@_storage_options
def providers_list(project_id: str, as_json: bool, data_dir: str, database_url: str | None) -> None:
    """One provider a line: key, app ID and enabled/disabled, tab-separated (never the secret)."""
    _, db = _open(data_dir, database_url)
    rows = oauth2_config.list_providers(db, project_id=project_id)
    _echo_rows(
        rows, as_json, lambda row: f"{row['provider']}\t{row['appId']}\t{'enabled' if row['enabled'] else 'disabled'}"
    )


@providers.command("disable")
@click.option("--project", "project_id", required=True)
@click.argument("provider")
@_storage_options
def providers_disable(project_id: str, provider: str, data_dir: str, database_url: str | None) -> None:
    """Turn sign-in with PROVIDER off (its settings are kept; `set` turns it on again)."""
    _, db = _open(data_dir, database_url)
    with _reported():
        oauth2_config.disable_provider(db, project_id=project_id, provider=provider)


def _echo_rows(rows: list[dict], as_json: bool, line: Callable[[dict], str]) -> None:
    """``rows`` as one JSON array, or one ``line`` each."""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(line(row))


@main.group("migrate-from")
def migrate_from() -> None:
    """Copy a project of another server into nib."""


@migrate_from.command("appwrite")
@click.option("--endpoint", required=True, help="the Appwrite API, e.g. https://appwrite.example.com/v1")
@click.option("--project", "source_project", required=True, help="the project's ID on the Appwrite server")
@click.option(
    "--key",
    required=True,
    envvar="APPWRITE_KEY",
    help="an API key with users.read, teams.read, buckets.read and files.read (or $APPWRITE_KEY)",
)
@click.option("--into", "into", default=None, help="nib's project (default: the same ID), created if missing")
@_on_conflict_option
@click.option(
    "--staging",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the source is copied before the import (default: under the data dir, one per endpoint and project)",
)
@_storage_options
def migrate_from_appwrite(
    endpoint: str,
    source_project: str,
    key: str,
    into: str | None,
    on_conflict: str,
    staging: Path | None,
    data_dir: str,
    database_url: str | None,
) -> None:
    """Copy an Appwrite (1.4 and later) project's users, teams, buckets and files into nib.
    A re-run resumes: staged bytes are not downloaded again, imported records stay unchanged."""
    into = into or source_project
    if not is_key(into):
        _usage_error(f"The project ID {into!r} is not valid in nib: {KEY_DESCRIPTION}")
    settings, db = _open(data_dir, database_url)
    try:
        source = appwrite.AppwriteSource(endpoint, source_project, key)
        folder = staging or appwrite.staging_for(settings.data_dir, endpoint, source_project)
        with _reported(), progress() as shown, closing(source):
            report = appwrite.migrate(
                db,
                _device(settings),
                settings,
                source,
                into=into,
                on_conflict=on_conflict,
                staging=folder,
                progress=shown,
            )
    except (appwrite.SourceError, ValueError, OSError) as error:  # ValueError, OSError: the staging directory
        _usage_error(str(error))
    click.echo(report.render())
    sys.exit(1 if report.failed else 0)

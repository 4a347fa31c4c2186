"""Importing an export (operations/exchange.py) into a project: kind by kind in the format's
order, each record handed to its domain's ``transfer`` module, conflicts handled per
``on_conflict`` and every outcome counted for the final report.

A record is written in one transaction of its own (a file: its object first, then its row), so an
import stopped anywhere leaves whole records only, and a re-run counts those as ``unchanged``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..auth.projects import create_project
from ..data.db import Database
from ..data.hooks import on_user_deleted
from ..data.transfer import Conflict, Outcome
from ..storage import transfer as storage_transfer
from ..storage.devices import Device
from ..teams import transfer as teams_transfer
from ..teams.service import remove_user_memberships
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from ..users import transfer as users_transfer
from .exchange import KINDS, ExportReader
from .progress import Progress

ON_CONFLICT = ("skip", "overwrite", "fail")
OUTCOMES = ("created", "unchanged", "overwritten", "skipped", "failed")


@dataclass
class Problem:
    """A conflict or a failure of one record: ``what`` names it (``users/<id>``), ``done`` says
    what came of a conflict (skipped, overwritten, stopped)."""

    what: str
    reason: str
    done: str = ""


@dataclass
class ImportReport:
    project_id: str
    project_created: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    conflicts: list[Problem] = field(default_factory=list)
    failures: list[Problem] = field(default_factory=list)
    stopped: bool = False  # by a conflict under on_conflict="fail"

    @property
    def failed(self) -> bool:
        """Whether the import did not do all it was asked (the command exits with status 1)."""
        return self.stopped or bool(self.failures)

    def count(self, kind: str, outcome: str | None = None) -> None:
        """One more record of ``kind`` with ``outcome``; without one, the kind's row starts (at 0)."""
        counted = self.counts.setdefault(kind, dict.fromkeys(OUTCOMES, 0))
        if outcome is not None:
            counted[outcome] += 1

    def render(self) -> str:
        lines = [f"Import into project {self.project_id}" + (" (created)" if self.project_created else "") + ":"]
        lines.append(f"  {'':<12}" + "".join(f"{outcome:>12}" for outcome in OUTCOMES))
        for kind, counted in self.counts.items():
            lines.append(f"  {kind:<12}" + "".join(f"{counted[outcome]:>12}" for outcome in OUTCOMES))
        for title, problems in (("Conflicts", self.conflicts), ("Failures", self.failures)):
            if problems:
                lines.append(f"{title} ({len(problems)}):")
                lines += [f"  {p.what}: {p.reason}" + (f" -> {p.done}" if p.done else "") for p in problems]
        if self.stopped:
            lines.append("Stopped at the first conflict (--on-conflict fail); what was imported before it stays.")
        return "\n".join(lines)


# One record of a kind -> its outcome, with overwrite or not.
_Importer = Callable[[dict[str, Any], bool], Outcome]


def import_export(
    db: Database,
    device: Device,
    reader: ExportReader,
    *,
    project_id: str,
    only: Collection[str] | None,
    on_conflict: str,
    progress: Progress,
    settings: Settings | None = None,
) -> ImportReport:
    """Import the kinds of ``reader`` (those in ``only``, when given) into ``project_id``, created
    with the export's project name when missing. ``on_conflict``: ``skip`` keeps what is stored,
    ``overwrite`` replaces it, ``fail`` stops at the first conflict. ``settings`` (those of the
    environment when omitted) decide how file bytes are stored: antivirus, the server secret."""
    if on_conflict not in ON_CONFLICT:
        raise ValueError(f"on_conflict must be one of {', '.join(ON_CONFLICT)}, not {on_conflict!r}")
    settings = settings or Settings.from_env()
    # A user replaced by an overwrite leaves its teams, as a deleted user does.
    on_user_deleted(remove_user_memberships)
    report = ImportReport(project_id, project_created=_ensure_project(db, project_id, reader.header["project"]))
    importers = _importers(db, device, settings, reader, project_id)
    for kind in KINDS:
        if kind not in reader.kinds or (only is not None and kind not in only):
            continue
        step = progress.step(f"import {kind}", reader.header["counts"].get(kind), unit=kind)
        report.count(kind)
        for what, record in _numbered(kind, reader.records(kind), report):
            _import_one(kind, what, record, importers[kind], on_conflict, report)
            step.advance()
            if report.stopped:
                return report
    return report


def _ensure_project(db: Database, project_id: str, exported: dict[str, Any]) -> bool:
    name = exported.get("name") if isinstance(exported.get("name"), str) else None
    try:
        create_project(db, project_id=project_id, name=name or project_id)
    except AppwriteError as error:
        if error.type != "document_already_exists":
            raise
        return False
    return True


def _importers(
    db: Database, device: Device, settings: Settings, reader: ExportReader, project_id: str
) -> dict[str, _Importer]:
    def file(record: dict[str, Any], overwrite: bool) -> Outcome:
        return storage_transfer.import_file(
            db,
            device,
            settings,
            project_id=project_id,
            record=record,
            data=lambda: reader.object_chunks(record["bucketId"], record["$id"]),
            overwrite=overwrite,
        )

    def plain(act: Callable[..., Outcome]) -> _Importer:
        return lambda record, overwrite: act(db, project_id=project_id, record=record, overwrite=overwrite)

    importers = {
        "users": plain(users_transfer.import_user),
        "teams": plain(teams_transfer.import_team),
        "memberships": plain(teams_transfer.import_membership),
        "buckets": plain(storage_transfer.import_bucket),
    }
    importers["files"] = file
    return importers


def _numbered(kind: str, records: Iterator[dict[str, Any]], report: ImportReport) -> Iterator[tuple[str, dict]]:
    """Each record with its name in the report; a line that is no record ends the kind, as a
    failure (the reader cannot go on past it)."""
    number = 0
    try:
        for number, record in enumerate(records, 1):
            yield _name(kind, record, number), record
    except ValueError as error:
        report.failures.append(Problem(f"{kind} (after record {number})", str(error)))
        report.count(kind, "failed")


def _name(kind: str, record: dict[str, Any], number: int) -> str:
    parts = [record.get("bucketId"), record.get("$id")] if kind == "files" else [record.get("$id")]
    ids = [part for part in parts if isinstance(part, str) and part]
    if len(ids) == len(parts):
        return f"{kind}/" + "/".join(ids)
    return f"{kind} #{number}"


def _import_one(
    kind: str, what: str, record: dict[str, Any], importer: _Importer, on_conflict: str, report: ImportReport
) -> None:
    try:
        try:
            report.count(kind, importer(record, False))
        except Conflict as conflict:
            if on_conflict == "skip":
                report.conflicts.append(Problem(what, str(conflict), "skipped"))
                report.count(kind, "skipped")
            elif on_conflict == "fail":
                report.conflicts.append(Problem(what, str(conflict), "stopped the import"))
                report.count(kind, "failed")
                report.stopped = True
            else:
                report.count(kind, importer(record, True))
                report.conflicts.append(Problem(what, str(conflict), "overwritten"))
    except (ValueError, Conflict, AppwriteError) as error:
        reason = error.message if isinstance(error, AppwriteError) else str(error)
        report.failures.append(Problem(what, reason))
        report.count(kind, "failed")

"""Exporting a project into nib's export format (operations/exchange.py): each domain's records
from its ``transfer`` module, files' original bytes streamed into objects. Run again on the same
destination it writes the records anew and keeps the objects already there whole."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..auth.projects import list_projects
from ..data.db import Database
from ..storage import buckets as bucket_service
from ..storage import transfer as storage_transfer
from ..storage.devices import Device
from ..teams import transfer as teams_transfer
from ..teams.service import count_teams
from ..tools.config import Settings
from ..users import transfer as users_transfer
from ..users.service import count_users
from .exchange import KINDS, ExportWriter
from .progress import Progress


@dataclass
class ExportReport:
    destination: Path
    counts: dict[str, int] = field(default_factory=dict)
    objects_kept: int = 0  # objects a previous run had written
    failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def render(self) -> str:
        lines = [f"Exported to {self.destination}:"]
        lines += [f"  {kind:<12}{count:>10}" for kind, count in self.counts.items()]
        if self.objects_kept:
            lines.append(f"  ({self.objects_kept} file objects were already there and kept)")
        if self.failures:
            lines.append(f"Failures ({len(self.failures)}), left out of the export:")
            lines += [f"  {failure}" for failure in self.failures]
        return "\n".join(lines)


def export_project(
    db: Database,
    device: Device,
    settings: Settings,
    destination: Path,
    *,
    project_id: str,
    only: Collection[str] | None,
    progress: Progress,
) -> ExportReport:
    """Write the project's kinds (those in ``only``, when given) to ``destination``: a directory,
    or one archive when it ends in ``.tar``. ``ValueError`` for an unknown project."""
    project = next((row for row in list_projects(db) if row["id"] == project_id), None)
    if project is None:
        raise ValueError(f"There is no project {project_id!r}.")
    kinds = [kind for kind in KINDS if only is None or kind in only]
    writer = ExportWriter(destination, project={"$id": project_id, "name": project["name"]}, kinds=kinds)
    report = ExportReport(destination)
    sources: dict[str, tuple[Callable[[], int], Callable[[], Iterator[dict[str, Any]]]]] = {
        "users": (
            lambda: count_users(db, project_id=project_id),
            lambda: users_transfer.export_users(db, project_id=project_id),
        ),
        "teams": (
            lambda: count_teams(db, project_id=project_id),
            lambda: teams_transfer.export_teams(db, project_id=project_id),
        ),
        "memberships": (
            lambda: teams_transfer.count_memberships(db, project_id=project_id),
            lambda: teams_transfer.export_memberships(db, project_id=project_id),
        ),
        "buckets": (
            lambda: bucket_service.usage(db, project_id=project_id)["buckets"],
            lambda: storage_transfer.export_buckets(db, project_id=project_id),
        ),
        "files": (
            lambda: storage_transfer.count_files(db, project_id=project_id),
            lambda: storage_transfer.export_files(db, project_id=project_id),
        ),
    }
    for kind in kinds:
        count, records = sources[kind]
        step = progress.step(f"export {kind}", count(), unit=kind)
        report.counts[kind] = 0
        for record in records():
            if kind != "files" or _object_written(db, device, settings, writer, project_id, record, report):
                writer.add(kind, record)
                report.counts[kind] += 1
            step.advance()
    writer.finish()
    return report


def _object_written(
    db: Database,
    device: Device,
    settings: Settings,
    writer: ExportWriter,
    project_id: str,
    record: dict[str, Any],
    report: ExportReport,
) -> bool:
    """The file's original bytes in the export (kept from a previous run when whole there);
    False, with the reason in the report, when they cannot be read or are not the file's."""
    bucket_id, file_id, signature = record["bucketId"], record["$id"], record["signature"]
    if writer.has_object(bucket_id, file_id, record["sizeOriginal"], signature):
        report.objects_kept += 1
        return True
    try:
        chunks = storage_transfer.original_bytes(
            db, device, settings, project_id=project_id, bucket_id=bucket_id, file_id=file_id
        )
        size, md5 = writer.write_object(bucket_id, file_id, chunks)
    except ValueError as error:
        report.failures.append(f"files/{bucket_id}/{file_id}: {error}")
        return False
    if md5 != signature or size != record["sizeOriginal"]:
        report.failures.append(
            f"files/{bucket_id}/{file_id}: its stored bytes ({size} bytes, MD5 {md5}) are not those it was "
            f"uploaded with ({record['sizeOriginal']} bytes, MD5 {signature})"
        )
        return False
    return True

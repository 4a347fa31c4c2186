"""`nib migrate-from appwrite`: copy a project of a running Appwrite (1.4 and later) into nib,
over Appwrite's REST API with an API key (scopes users.read, teams.read, buckets.read,
files.read).

Two phases. ``stage`` reads the source (users with their password hashes, MFA recovery codes,
targets and identities; teams and memberships; buckets and files with their bytes) into nib's
export format (docs/export-format.md) in a staging directory; then the export is imported with
the importer of `nib import`. Staging is what makes a re-run cheap after an interruption:
records are listed again (they are small), but bytes already staged with the file's size and
MD5 are not downloaded again, and the importer counts what is already imported as unchanged.

List queries: Appwrite 1.4 reads the string syntax (``limit(100)``), later versions the JSON one
(``{"method":"limit","values":[100]}``); the first request tries JSON and falls back on the
string syntax when the server answers 400, so no version number has to be trusted.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .exchange import KINDS, ExportReader, ExportWriter
from .imports import ImportReport, import_export
from .progress import Progress

if TYPE_CHECKING:
    import httpx

    from ..data.db import Database
    from ..storage.devices import Device
    from ..tools.config import Settings

PAGE = 100
# Newer than any Appwrite version nib follows: the answers carry every field they have (Appwrite
# filters responses only for formats older than its own).
RESPONSE_FORMAT = "1.9.0"
ATTEMPTS = 4  # a request after a network error, a 429 or a 5xx: retried after 0.5, 1, 2 s
TOTAL_CAP = 5000  # Appwrite counts list totals up to this; past it the count is unknown
_CHUNK = 1 << 20
_MD5 = re.compile(r"[0-9a-f]{32}")
# In the staging directory: the export, and the files downloaded into it (``_Downloads``).
EXPORT, DOWNLOADS = "export", "downloads.jsonl"
T = TypeVar("T")

USER_FIELDS = (
    "$id", "$createdAt", "$updatedAt", "name", "email", "phone", "registration", "status", "labels", "prefs",
    "passwordUpdate", "emailVerification", "phoneVerification", "accessedAt", "hash", "hashOptions", "mfa",
)  # fmt: skip
TARGET_FIELDS = ("$id", "$createdAt", "$updatedAt", "name", "providerId", "providerType", "identifier", "expired")
IDENTITY_FIELDS = ("$id", "$createdAt", "$updatedAt", "provider", "providerUid", "providerEmail")
TEAM_FIELDS = ("$id", "$createdAt", "$updatedAt", "name", "prefs")
MEMBERSHIP_FIELDS = ("$id", "$createdAt", "$updatedAt", "teamId", "userId", "roles", "invited", "joined", "confirm")
BUCKET_FIELDS = (
    "$id", "$createdAt", "$updatedAt", "$permissions", "fileSecurity", "name", "enabled", "maximumFileSize",
    "allowedFileExtensions", "compression", "encryption", "antivirus",
)  # fmt: skip
FILE_FIELDS = ("$id", "bucketId", "$createdAt", "$updatedAt", "$permissions", "name", "mimeType", "sizeOriginal")


class SourceError(Exception):
    """The source cannot be read (unreachable, key or project refused, not an Appwrite API); the
    message says which."""


class _Refused(Exception):
    """An answer of the source other than success (after retries)."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class _Retry(Exception):
    """A 429 or 5xx: worth another attempt."""

    def __init__(self, refused: _Refused) -> None:
        self.refused = refused


def api_root(endpoint: str) -> str:
    """The API's base URL: Appwrite's endpoints end in ``/v1``, added when left out."""
    root = endpoint.strip().rstrip("/")
    if not root.startswith(("http://", "https://")):
        raise SourceError(f"The endpoint must be an http:// or https:// URL, not {endpoint!r}.")
    return root if root.endswith("/v1") else root + "/v1"


def staging_for(data_dir: Path, endpoint: str, project: str) -> Path:
    """The default staging directory of a source: one per endpoint and project, so a re-run of
    the same migration finds what the last one staged."""
    digest = hashlib.sha256(f"{api_root(endpoint)}\n{project}".encode()).hexdigest()[:16]
    return data_dir / "migrate-from" / f"appwrite-{digest}"


class AppwriteSource:
    """An Appwrite project read with an API key: GET requests with retries, paged lists."""

    def __init__(self, endpoint: str, project: str, key: str, *, transport: httpx.BaseTransport | None = None) -> None:
        import httpx

        self.endpoint, self.project = api_root(endpoint), project
        headers = {"X-Appwrite-Project": project, "X-Appwrite-Key": key, "X-Appwrite-Response-Format": RESPONSE_FORMAT}
        self._client = httpx.Client(
            base_url=self.endpoint, headers=headers, timeout=httpx.Timeout(60, connect=10), transport=transport
        )
        self._json_queries = True

    def close(self) -> None:
        self._client.close()

    def check(self) -> None:
        """Reads one record of each list the migration needs, so a wrong endpoint, project or key
        (or a missing scope) is refused before anything is staged; picks the query syntax."""
        try:
            self._page("/users", 1, None)
        except _Refused as refused:
            if refused.status != 400:
                raise self.explained(refused) from None
            self._json_queries = False  # Appwrite 1.4: the string syntax
            try:
                self._page("/users", 1, None)
            except _Refused as again:
                raise self.explained(again) from None
        try:
            self._page("/teams", 1, None)
            buckets = self._page("/storage/buckets", 1, None).get("buckets")
            if isinstance(buckets, list) and buckets:
                self._page(f"/storage/buckets/{buckets[0]['$id']}/files", 1, None)
        except _Refused as refused:
            raise self.explained(refused) from None

    def listing(self, path: str, key: str) -> tuple[int | None, Iterator[dict[str, Any]]]:
        """The documents of a list endpoint (``key``: the list's field, e.g. ``users``), paged
        with cursors, and their total (``None`` when past what Appwrite counts)."""
        first = self._listed(path, key, None)
        total = first["total"] if isinstance(first.get("total"), int) and first["total"] < TOTAL_CAP else None

        def documents() -> Iterator[dict[str, Any]]:
            page = first
            while True:
                yield from page[key]
                if len(page[key]) < PAGE:
                    return
                page = self._listed(path, key, page[key][-1]["$id"])

        return total, documents()

    def get(self, path: str) -> dict[str, Any]:
        """One document; ``_Refused`` when the source answers otherwise."""
        return self._json(self._retried(lambda: self._answer(self._client.get(path))))

    def download(self, bucket_id: str, file_id: str, write: Callable[[Iterator[bytes]], T]) -> T:
        """``write`` given a file's bytes as they arrive; called again from the start after a
        network error or 5xx (bounded)."""
        path = f"/storage/buckets/{bucket_id}/files/{file_id}/download"

        def attempt() -> T:
            with self._client.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    self._answer(response)
                return write(response.iter_bytes(_CHUNK))

        return self._retried(attempt)

    def _listed(self, path: str, key: str, cursor: str | None) -> dict[str, Any]:
        page = self._page(path, PAGE, cursor)
        if not isinstance(page.get(key), list):
            raise SourceError(f"{self.endpoint}{path} answered without a {key!r} list: is it an Appwrite API?")
        return page

    def _page(self, path: str, limit: int, cursor: str | None) -> dict[str, Any]:
        if self._json_queries:
            queries = [json.dumps({"method": "limit", "values": [limit]})]
            if cursor:
                queries.append(json.dumps({"method": "cursorAfter", "values": [cursor]}))
        else:
            queries = [f"limit({limit})"] + ([f"cursorAfter({json.dumps(cursor)})"] if cursor else [])
        params = {"queries[]": queries}
        return self._json(self._retried(lambda: self._answer(self._client.get(path, params=params))))

    def _retried(self, attempt: Callable[[], T]) -> T:
        import httpx

        failures = 0
        while True:
            try:
                return attempt()
            except (httpx.TransportError, _Retry) as error:
                failures += 1
                if failures == ATTEMPTS:
                    if isinstance(error, _Retry):
                        raise error.refused from None
                    raise SourceError(f"Cannot reach {self.endpoint}: {error or type(error).__name__}.") from None
            time.sleep(0.5 * 2 ** (failures - 1))

    def _answer(self, response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            refused = _Refused(response.status_code, str(body.get("type", "")), body["message"])
        else:
            refused = _Refused(response.status_code, "", f"HTTP {response.status_code} without an Appwrite error")
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retry(refused)
        raise refused

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SourceError(f"{response.request.url} did not answer JSON: is {self.endpoint} an Appwrite API?")
        return body

    def explained(self, refused: _Refused) -> SourceError:
        """The error ending the migration when the source refuses a request it needs."""
        where = f"{self.endpoint} (project {self.project})"
        if refused.status == 401:
            return SourceError(
                f"{where} refused the API key (a wrong key, or one without the users.read, teams.read, "
                f"buckets.read and files.read scopes): {refused.message}"
            )
        if refused.status == 404 and refused.kind:
            return SourceError(f"{where}: {refused.message}")
        if refused.status == 404:
            return SourceError(f"{self.endpoint} is not an Appwrite API (404 for {where}).")
        return SourceError(f"{where} answered {refused.status}: {refused.message}")


@dataclass
class StagingReport:
    """What staging read: counts per kind, objects downloaded or already staged, and what was
    left behind with the reason (per record)."""

    counts: dict[str, int] = field(default_factory=dict)
    downloaded: int = 0
    already_staged: int = 0
    not_migrated: list[str] = field(default_factory=list)  # migrated records missing a part
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def render(self) -> str:
        counts = ", ".join(f"{kind} {count}" for kind, count in self.counts.items())
        lines = [
            f"Read from the source: {counts}.",
            f"File bytes: {self.downloaded} downloaded, {self.already_staged} unchanged (already staged).",
        ]
        reading = "while reading the source"
        for title, items in (
            ("Not migrated", self.not_migrated),
            (f"Skipped {reading}", self.skipped),
            (f"Failed {reading}", self.failed),
        ):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines += [f"  {item}" for item in items]
        return "\n".join(lines)


def stage(source: AppwriteSource, writer: ExportWriter, downloads: Path, progress: Progress) -> StagingReport:
    """Reads the source project into ``writer`` (not finished: the caller does that), noting the
    files it downloads in ``downloads``; ``SourceError`` when the source refuses a list it needs."""
    report = StagingReport()
    try:
        _stage_users(source, writer, progress, report)
        _stage_teams(source, writer, progress, report)
        _stage_storage(source, writer, downloads, progress, report)
    except _Refused as refused:
        raise source.explained(refused) from None
    return report


def _pick(document: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: document[name] for name in names if name in document}


def _identities(source: AppwriteSource) -> dict[str, list[dict[str, Any]]]:
    """Every user's OAuth2 identities (none before Appwrite 1.5, which has no such list)."""
    by_user: dict[str, list[dict[str, Any]]] = {}
    try:
        _, identities = source.listing("/users/identities", "identities")
    except _Refused as refused:
        if _no_route(refused):
            return by_user
        raise
    for identity in identities:
        by_user.setdefault(identity["userId"], []).append(_pick(identity, IDENTITY_FIELDS))
    return by_user


def _no_route(refused: _Refused) -> bool:
    """Whether the source has no such route (an older Appwrite)."""
    return refused.status == 404 and refused.kind == "general_route_not_found"


def _stage_users(source: AppwriteSource, writer: ExportWriter, progress: Progress, report: StagingReport) -> None:
    identities = _identities(source)
    total, users = source.listing("/users", "users")
    step = progress.step("Reading users", total, unit="users")
    has_mfa = True  # until a server without MFA (Appwrite 1.4) says so
    count = 0
    for user in users:
        record = _pick(user, USER_FIELDS)
        record["password"] = user.get("password") or None
        record["targets"] = [_pick(target, TARGET_FIELDS) for target in user.get("targets", [])]
        record["identities"] = identities.get(user["$id"], [])
        record["authenticators"] = []
        record["mfaRecoveryCodes"] = []
        if has_mfa:
            factors = _factors(source, user["$id"])
            has_mfa = factors is not None
            if factors and factors.get("recoveryCode"):
                record["mfaRecoveryCodes"] = _recovery_codes(source, user["$id"])
            if factors and factors.get("totp"):
                report.not_migrated.append(
                    f"user {user['$id']}: TOTP authenticator (Appwrite's API does not give its secret; "
                    "the user adds an authenticator again, signing in with another factor or a recovery code)"
                )
        writer.add("users", record)
        count += 1
        step.advance()
    report.counts["users"] = count


def _factors(source: AppwriteSource, user_id: str) -> dict[str, Any] | None:
    """The user's MFA factors; ``None`` when the source has no MFA (Appwrite 1.4)."""
    try:
        return source.get(f"/users/{user_id}/mfa/factors")
    except _Refused as refused:
        if _no_route(refused):
            return None
        if refused.status == 404:  # the user was deleted since it was listed
            return {}
        raise


def _recovery_codes(source: AppwriteSource, user_id: str) -> list[str]:
    try:
        codes = source.get(f"/users/{user_id}/mfa/recovery-codes").get("recoveryCodes")
    except _Refused as refused:
        if refused.status == 404:  # used up or removed since the factors were read
            return []
        raise
    return [code for code in codes or [] if isinstance(code, str)]


def _stage_teams(source: AppwriteSource, writer: ExportWriter, progress: Progress, report: StagingReport) -> None:
    total, teams = source.listing("/teams", "teams")
    step = progress.step("Reading teams and memberships", total, unit="teams")
    team_count = membership_count = 0
    for team in teams:
        writer.add("teams", _pick(team, TEAM_FIELDS))
        team_count += 1
        _, memberships = source.listing(f"/teams/{team['$id']}/memberships", "memberships")
        for membership in memberships:
            writer.add("memberships", _pick(membership, MEMBERSHIP_FIELDS))
            membership_count += 1
        step.advance()
    report.counts["teams"], report.counts["memberships"] = team_count, membership_count


def _stage_storage(
    source: AppwriteSource, writer: ExportWriter, downloaded: Path, progress: Progress, report: StagingReport
) -> None:
    total, buckets = source.listing("/storage/buckets", "buckets")
    bucket_list = []
    for bucket in buckets:
        writer.add("buckets", _pick(bucket, BUCKET_FIELDS))
        bucket_list.append(bucket["$id"])
    report.counts["buckets"] = len(bucket_list)
    report.counts["files"] = 0
    with _Downloads(downloaded) as downloads:
        for bucket_id in bucket_list:
            total, files = source.listing(f"/storage/buckets/{bucket_id}/files", "files")
            step = progress.step(f"Reading files of bucket {bucket_id}", total, unit="files")
            for file in files:
                _stage_file(source, writer, downloads, bucket_id, file, report)
                step.advance()


class _Downloads:
    """The files staged by earlier runs, one JSON line each: the source's signature and size, and
    the MD5 of the bytes. An Appwrite storing files on S3 signs them with the object's ETag, which
    is no MD5 of the bytes for a multipart upload, so the signature alone cannot say whether an
    object staged is the file."""

    def __init__(self, path: Path) -> None:
        self._known: dict[tuple[str, str, str, int], str] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self._known[(entry["bucketId"], entry["$id"], entry["signature"], entry["size"])] = entry["md5"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by an interruption: that file is downloaded again
        self._log = open(path, "a")

    def md5(self, bucket_id: str, file_id: str, signature: str, size: int) -> str | None:
        return self._known.get((bucket_id, file_id, signature, size))

    def add(self, bucket_id: str, file_id: str, signature: str, size: int, md5: str) -> None:
        entry = {"bucketId": bucket_id, "$id": file_id, "signature": signature, "size": size, "md5": md5}
        self._log.write(json.dumps(entry) + "\n")
        self._log.flush()

    def __enter__(self) -> _Downloads:
        return self

    def __exit__(self, *exception: object) -> None:
        self._log.close()


def _stage_file(
    source: AppwriteSource,
    writer: ExportWriter,
    downloads: _Downloads,
    bucket_id: str,
    file: dict[str, Any],
    report: StagingReport,
) -> None:
    file_id = file["$id"]
    name = f"file {bucket_id}/{file_id}"
    if file.get("chunksUploaded", 0) < file.get("chunksTotal", 0):
        report.skipped.append(f"{name}: its upload is not complete")
        return
    size, signature = int(file.get("sizeOriginal", 0)), str(file.get("signature") or "")
    is_md5 = _MD5.fullmatch(signature) is not None
    md5 = downloads.md5(bucket_id, file_id, signature, size) or (signature if is_md5 else None)
    if md5 and writer.has_object(bucket_id, file_id, size, md5):
        report.already_staged += 1
    else:
        try:
            got_size, md5 = source.download(
                bucket_id, file_id, lambda chunks: writer.write_object(bucket_id, file_id, chunks)
            )
        except _Refused as error:
            report.failed.append(f"{name}: download failed: {error}")
            return
        if got_size != size or (is_md5 and md5 != signature):
            report.failed.append(
                f"{name}: the download ({got_size} bytes, MD5 {md5}) does not match the file "
                f"({size} bytes, signature {signature or 'none'})"
            )
            return
        downloads.add(bucket_id, file_id, signature, size, md5)
        report.downloaded += 1
    writer.add("files", {**_pick(file, FILE_FIELDS), "bucketId": bucket_id, "signature": md5})
    report.counts["files"] += 1


@dataclass
class MigrationReport:
    """Staging's report, then the import's."""

    staged: StagingReport
    imported: ImportReport
    staging: Path

    @property
    def failed(self) -> bool:
        return bool(self.staged.failed) or self.imported.failed

    def render(self) -> str:
        return "\n".join(
            [
                self.staged.render(),
                self.imported.render(),
                f"Staged in {self.staging}: a re-run reuses it; delete it once the migration is over.",
            ]
        )


def migrate(
    db: Database,
    device: Device,
    settings: Settings,
    source: AppwriteSource,
    *,
    into: str,
    on_conflict: str,
    staging: Path,
    progress: Progress,
) -> MigrationReport:
    """Copies the source project into nib's project ``into`` (created if missing) through the
    staging directory. ``SourceError`` before anything is imported when the source cannot be
    read."""
    source.check()
    writer = ExportWriter(staging / EXPORT, project={"$id": source.project, "name": source.project}, kinds=KINDS)
    staged = stage(source, writer, staging / DOWNLOADS, progress)
    writer.finish()
    with ExportReader(staging / EXPORT) as reader:
        imported = import_export(
            db,
            device,
            reader,
            project_id=into,
            only=None,
            on_conflict=on_conflict,
            progress=progress,
            settings=settings,
        )
    return MigrationReport(staged, imported, staging)

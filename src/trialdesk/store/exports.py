"""A study exported in a standard format (`trialdesk.exchange`), as its reader may see it.

Exports are taken by the study-wide data manager, statistician and DMC statistician
(`Step.EXPORT_DATA`). The source is read through the access policy (`export_feed`), so what
the reader may not see is not in it. An export with arms (a reader who may see results by
arm) is an unblinded output: its files are written to a staging directory first, their
SHA-256 recorded (`record_unblinded_output`, audited), and only then moved to `out`; an
export that fails leaves nothing at `out` and nothing recorded.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction

from trialdesk.errors import BadInput
from trialdesk.exchange import FORMATS, ExportFormat
from trialdesk.store.access import Access
from trialdesk.store.errors import NotPermitted
from trialdesk.store.export_feed import export_source
from trialdesk.store.permissions import STEP_ROLES, Step
from trialdesk.store.services.outputs import record_unblinded_output


@dataclass(frozen=True)
class ExportResult:
    format: ExportFormat
    blinded: bool
    files: list[Path]  # under `out` (or `out` itself for a one-file format)
    sha256: str  # over the files' names and contents (`files_sha256`)
    recorded_output: int | None  # the UnblindedOutput of an export with arms


def export_format(name: str) -> ExportFormat:
    chosen = FORMATS.get(name)
    if chosen is None:
        raise BadInput(f"format {name!r}: expected one of {', '.join(FORMATS)}")
    return chosen


def require_exporter(access: Access) -> None:
    roles = STEP_ROLES[Step.EXPORT_DATA]
    if not access.may(roles):
        raise NotPermitted(
            f"user {access.user.username} may not {Step.EXPORT_DATA.value} of {access.study}: "
            f"that needs a study-wide {' or '.join(sorted(r.value for r in roles))}"
        )


def files_sha256(paths: list[Path], root: Path) -> str:
    """One SHA-256 over the files' names (relative to `root`) and contents, in name order."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@contextmanager
def read_snapshot() -> Iterator[None]:
    """Every read inside sees the store as it was at the first: the batches of an export
    agree with each other while sites go on writing.

    PostgreSQL: one REPEATABLE READ, READ ONLY transaction. SQLite: a deferred transaction
    (Django's own begin IMMEDIATE, which would hold the write lock through the export), a
    read snapshot in WAL mode. Inside a transaction already, that transaction is the
    snapshot.
    """
    if connection.in_atomic_block:
        yield
    elif connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield
    else:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ROLLBACK")


def export_study(access: Access, format_name: str, out: Path) -> ExportResult:
    """Write the study in `format_name` to `out` (a file, or a directory for sdtm/redcap)."""
    chosen = export_format(format_name)
    if out.is_dir() and not chosen.directory:
        raise BadInput(f"out {out}: a directory; format {format_name} writes one file")
    if out.exists() and chosen.directory and not out.is_dir():
        raise BadInput(f"out {out}: a file; format {format_name} writes a directory")
    require_exporter(access)
    writer = importlib.import_module(chosen.module)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as staging:
        staged = Path(staging) / out.name
        with read_snapshot():
            source = export_source(access)
            written = writer.write(source, staged)
        digest = files_sha256(written, Path(staging))
        recorded = None
        if not source.blinded:
            what = f"{format_name} export"
            recorded = record_unblinded_output(access.study, access.user.username, what, digest)
        if chosen.directory:
            out.mkdir(exist_ok=True)
            files = []
            for path in written:
                target = out / path.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
                files.append(target)
        else:
            shutil.move(staged, out)
            files = [out]
    return ExportResult(
        chosen, source.blinded, files, digest, recorded.pk if recorded is not None else None
    )

"""The move-in run as a background job (crm.jobs) that an administrator starts from the page
(integrations.moving_in.views): the export is an uploaded zip kept in the storage, or a folder of the
server's moving-in directory (CRM_MOVING_IN_DIR); the result is one CSV report (the bad rows, then
the reconciliation of money)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.exceptions import ValidationFailed
from crm.jobs import JobHandle, job_start
from crm.models import Brand, Job, User
from integrations.moving_in.folder import MAX_ZIP_BYTES, Folder, FolderUnreadable, zip_extract
from integrations.moving_in.importer import MONEY_MODES, crm_import

JOB_KIND = "integrations.crm_import"
JOB_FUNC = "integrations.moving_in.jobs.crm_import_job"
COUNT_LABELS: dict[str, Promise | str] = {"clients_created": _("Clients created"), "clients_updated": _("Clients updated"),
                "clients_unchanged": _("Clients unchanged"), "bad_rows": _("Bad rows"),
                "differences": _("Balances that differ")}


def moving_in_dir() -> Path | None:
    """The server's directory of export folders an administrator may choose from, if configured."""
    value = getattr(settings, "CRM_MOVING_IN_DIR", "") or os.environ.get("CRM_MOVING_IN_DIR", "")
    return Path(value) if value else None


def server_folders() -> list[str]:
    """The export folders (those with a clients.csv) of the server's moving-in directory, by name."""
    root = moving_in_dir()
    if root is None or not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "clients.csv").is_file())


def crm_import_start(*, actor: User, brand: Brand, money: str, dry_run: bool, upload: Any = None,
                     folder: str = "", again: Job | None = None) -> Job:
    """Start a move-in job: from an uploaded zip, a server folder, or `again` (the same export as an
    earlier job, a dry run's, now for real)."""
    if money not in MONEY_MODES:
        raise ValidationFailed(fields={"money": [gettext("Choose opening balances or the history.")]})
    if again is not None:
        kwargs = {**again.kwargs, "dry_run": dry_run}
    elif upload is not None:
        if upload.size > MAX_ZIP_BYTES:
            raise ValidationFailed(fields={"upload": [gettext("The archive is larger than 200 MB.")]})
        path = default_storage.save(f"moving-in/{actor.code}/{Path(upload.name).name or 'export.zip'}",
                                    ContentFile(upload.read()))
        kwargs = {"upload": path, "folder": ""}
    elif folder:
        if folder not in server_folders():
            raise ValidationFailed(fields={"folder": [gettext("Choose one of the server's export folders.")]})
        kwargs = {"upload": "", "folder": folder}
    else:
        raise ValidationFailed(fields={"upload": [gettext("Upload the export as a zip, or choose a server folder.")]})
    kwargs.update({"brand_id": brand.pk, "money": money, "dry_run": dry_run})
    what = gettext("Dry run of the move-in") if dry_run else gettext("Move-in")
    source = kwargs["folder"] or Path(str(kwargs["upload"])).name
    return job_start(kind=JOB_KIND, actor=actor, title=f"{what}: {source} ({brand.name})", func=JOB_FUNC,
                     kwargs=kwargs, brand=brand)


def crm_import_job(handle: JobHandle, *, upload: str, folder: str, brand_id: int, money: str,
                   dry_run: bool) -> None:
    """The job: unpack the export (or take the server folder), run the import with progress, and keep
    the report as the job's result."""
    brand = Brand.objects.get(pk=brand_id)
    work = Path(tempfile.mkdtemp(prefix="moving-in-"))
    try:
        if upload:
            archive = work / "export.zip"
            with default_storage.open(upload, "rb") as source, archive.open("wb") as target:
                shutil.copyfileobj(source, target)
            path = zip_extract(archive, work / "export")
        else:
            root = moving_in_dir()
            if root is None or folder not in server_folders():
                raise ValidationFailed(gettext("The server folder %(name)s is gone.") % {"name": folder})
            path = root / folder
        try:
            export = Folder(path)
        except FolderUnreadable as error:
            raise ValidationFailed(gettext("The export cannot be read: %(error)s.") % {"error": error}) from None

        def progress(done: int, total: int) -> None:
            if dry_run:
                # A dry run is one transaction: progress written in it would show only when it ends, and
                # would hold the job's row locked (a cancel would wait). It only listens for a cancel.
                handle.check()
            else:
                handle.progress(done, total)

        report = crm_import(folder=export, brand=brand, actor=handle.job.started_by, money=money,
                            dry_run=dry_run, progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with handle.csv_result("moving-in-report.csv") as writer:
        writer.writerow(("section", "file / client", "line / currency", "column / old balance",
                         "problem / wallet balance", "difference"))
        for problem in report.problems:
            writer.writerow(("bad row", problem.file, problem.line or "", problem.column, problem.problem, ""))
        for row in report.reconciliation:
            writer.writerow(("balance", row.client_old_id, row.currency, row.old_balance, row.wallet_balance,
                             row.difference))
        for currency, (old, new) in report.totals().items():
            writer.writerow(("total", "", currency, old, new, new - old))
    handle.set_result_rows(len(report.problems) + len(report.reconciliation))
    counts = report.flat_counts()
    counts.update(bad_rows=len(report.problems), differences=len(report.differences))
    handle.progress(handle.job.total or 0, force=True, check=False, **counts)

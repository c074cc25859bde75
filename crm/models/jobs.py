from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.exceptions import JobTransitionRefused
from crm.lib.states import StateMachine


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


FINISHED_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


def _result_path(job: Job, filename: str) -> str:
    return f"jobs/{job.created_at:%Y/%m}/{job.code}/{filename}"


class Job(models.Model):
    """Work a person started and waits for (an import, an export), run by an RQ worker (crm.jobs).

    The row is what the person sees: status, progress (done of total, and counts such as created
    or skipped), the failure in words, and the result file, which lives in the file storage under
    the var directory, never in a column.
    """

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    kind = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    started_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    # What runs: a dotted path and its keyword arguments (ids and plain values only).
    func = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(null=True, blank=True)
    done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    result_file = models.FileField(upload_to=_result_path, max_length=300, blank=True)
    result_name = models.CharField(max_length=200, blank=True)
    result_rows = models.PositiveIntegerField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    # The page of the thing the job works on (an import), shown as a link on the job's page.
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes: ClassVar = [
            # "My jobs": a person's newest first.
            models.Index(F("started_by"), F("created_at").desc(), name="job_starter_recent_idx"),
            # The sweep looks only at unfinished jobs, a handful among many finished ones.
            models.Index(fields=["status"], name="job_unfinished_idx",
                         condition=Q(status__in=["queued", "running"])),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(total__isnull=True) | Q(done__lte=F("total")),
                                   name="job_done_within_total"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.code}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        return min(100, int(self.done * 100 / self.total)) if self.total else 0


# --- the job's lifecycle (crm.lib.states) -----------------------------------------------------------

def _job_refused(old: str, new: str) -> str:
    return gettext("A job that is %(from)s cannot become %(to)s.") % {
        "from": str(JobStatus(old).label).lower(), "to": str(JobStatus(new).label).lower()}


# Queued until a worker takes it (running), or until it is cancelled or found lost (failed) first; a
# running job ends done, failed (its error, or its worker died) or cancelled. A finished job stays as
# it is: starting the work again is a new job. crm.jobs moves it set-based (one UPDATE whose WHERE
# is the sources of the new status), since a worker and the person cancelling race for the row.
JOB_STATES = StateMachine(
    name="job", model="crm.Job", states=JobStatus,
    transitions={
        JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
        JobStatus.RUNNING: frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED}),
        **{status: frozenset() for status in FINISHED_STATUSES},
    },
    terminal=FINISHED_STATUSES,
    error=JobTransitionRefused, message=_job_refused,
)

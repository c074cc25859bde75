"""Background jobs a person starts and waits for (imports, exports), run on django-rq.

    job = job_start(kind="leads.segment_export", actor=user, title="Export of VIP",
                    func="leads.jobs.segment_export", kwargs={"segment_id": 7}, brand=brand)

`job_start` writes a Job row (crm.models.Job) and enqueues it after commit. An RQ worker runs
`job_execute(job_id)`, which marks the job running and calls `func(handle, **kwargs)`. The function
reports through the handle:

    handle.progress(done, total, created=3, skipped=1)  # throttled writes; raises JobCancelled
    handle.check()                                       # raises JobCancelled once cancel is asked
    with handle.csv_result("export.csv") as writer:      # rows go to a file in the storage
        writer.writerow([...])                           # (handle.xlsx_result: the same, as XLSX)

The function's return ends the job as done; JobCancelled as cancelled; a DomainError as failed with
its message; anything else as failed with a reason in words (the traceback goes to the log and to
RQ's failed registry).

A worker that dies mid-job (killed, out of memory, the machine restarted) cannot write anything, so
two things notice it: a thread of the running job keeps a short-lived key in Redis alive, and RQ
marks the job failed when its work horse dies. `job_liveness_check` (on every view of the job and
from a Celery beat sweep) marks a running job whose key expired, or whose RQ job failed, as failed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any

from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError

from crm.audit import audit_record
from crm.exceptions import DomainError, NotAllowed
from crm.lib.redis import get_redis
from crm.models import JOB_STATES, Job, JobStatus, User
from crm.permissions import restriction_message, staff_restricted, user_can
from plumbing.csvsafe import SafeCsvWriter, SafeXlsxWriter

logger = logging.getLogger(__name__)

QUEUE = "default"
JOB_TIMEOUT_SECONDS = 3600
# The running job's thread renews its key this often; a key older than the TTL means the worker died.
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL_SECONDS = 30
# A queued job that RQ does not know after this long was lost (Redis emptied, enqueue failed).
LOST_AFTER = timedelta(minutes=2)
PROGRESS_EVERY_SECONDS = 0.5
CANCEL_CHECK_EVERY_SECONDS = 0.5


class JobCancelled(Exception):  # noqa: N818 (an outcome, not an error)
    """Raised inside a job once its cancel was asked: the job ends as cancelled."""


@dataclass(frozen=True)
class JobKind:
    label: Promise | str
    # Labels of the counts the job reports, in the order the page shows them.
    counts: dict[str, Promise | str] = field(default_factory=dict)


_KINDS: dict[str, JobKind] = {}


def job_kind_register(kind: str, *, label: Promise | str, counts: dict[str, Promise | str] | None = None) -> None:
    """Name a kind of job and its counts for the pages (apps call this from AppConfig.ready)."""
    _KINDS[kind] = JobKind(label=label, counts=dict(counts or {}))


def job_kind(kind: str) -> JobKind:
    return _KINDS.get(kind) or JobKind(label=kind)


def rq_job_id(job: Job) -> str:
    return f"crm-job-{job.code}"


def _alive_key(job_id: int) -> str:
    return f"crm:job:{job_id}:alive"


# --- starting, cancelling ----------------------------------------------------------------------


@transaction.atomic
def job_start(*, kind: str, actor: User, title: str, func: str, kwargs: dict[str, Any] | None = None,
              brand: Any = None, total: int | None = None, link: str = "") -> Job:
    """Write the job's row and enqueue it on django-rq once the caller's transaction commits (a job
    never runs on data its worker cannot see yet, and a rolled-back request enqueues nothing)."""
    job = Job.objects.create(kind=kind, title=title[:200], started_by=actor, brand=brand, func=func,
                             kwargs=kwargs or {}, total=total, link=link[:300])
    audit_record(action="job.start", obj=job, actor=actor, after={"kind": kind, "title": job.title})
    pk = job.pk
    transaction.on_commit(lambda: _enqueue(pk), robust=True)
    return job


def _enqueue(job_id: int) -> None:
    import django_rq

    job = Job.objects.get(pk=job_id)
    try:
        # Already after the commit: django-rq must not defer it to a later one ("auto").
        queue = django_rq.get_queue(QUEUE, commit_mode="auto")
        queue.enqueue("crm.jobs.job_execute", job_id, job_id=rq_job_id(job), job_timeout=JOB_TIMEOUT_SECONDS,
                      result_ttl=3600, failure_ttl=86400)
    except RedisError:
        logger.exception("could not enqueue job %s", job.code)
        _finish(job_id, JobStatus.FAILED, gettext("The job could not be queued: the job queue is unavailable. "
                                                  "Try again in a minute."), only_from=(JobStatus.QUEUED,))


def job_can_manage(user: Any, job: Job) -> bool:
    """The starter, an administrator, or a desk manager of the job's brand may see and cancel it."""
    if not getattr(user, "is_authenticated", False):
        return False
    if job.started_by_id == user.pk or getattr(user, "is_administrator", False):
        return True
    if not user_can(user, "crm.assign_client"):
        return False
    if job.brand_id is None:
        return False
    return bool(user.all_brands or user.brands.filter(pk=job.brand_id).exists())


def job_can_download(user: Any, job: Job) -> bool:
    """The result holds what its starter's scope let them see: only they (or an administrator, who
    sees everything) may download it; nobody while restricted (a download is an export)."""
    return bool(getattr(user, "is_authenticated", False) and not staff_restricted(user)
                and (job.started_by_id == user.pk or getattr(user, "is_administrator", False)))


@transaction.atomic
def job_cancel(*, actor: User, job: Job) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one stops at its next
    progress report or check (what it wrote before stays written)."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    if not job_can_manage(actor, locked):
        raise NotAllowed(gettext("Only the person who started this job or a manager can cancel it."))
    if locked.is_finished:
        return locked
    if locked.status == JobStatus.QUEUED:
        JOB_STATES.move(locked, JobStatus.CANCELLED, also={"finished_at": timezone.now(), "failure_reason": ""})
    locked.cancel_requested = True
    locked.save(update_fields=["status", "finished_at", "cancel_requested", "failure_reason"])
    audit_record(action="job.cancel", obj=locked, actor=actor, after={"status": locked.status})
    return locked


# --- running ----------------------------------------------------------------------------------------


class JobHandle:
    """What a running job reports through. Progress writes are throttled; `force=True` writes now
    (call it inside the transaction that wrote the rows, so the counts never run ahead of them)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._last_write = 0.0
        self._last_cancel_check = time.monotonic()
        self._dirty = False

    def progress(self, done: int, total: int | None = None, *, force: bool = False, check: bool = True,
                 **counts: int) -> None:
        """Report progress; then, unless `check=False`, stop (JobCancelled) when a cancel was asked.
        Inside a transaction that must commit (a chunk just written), pass check=False and check
        before the next chunk instead: raising there would roll the chunk back."""
        self.job.done = done
        if total is not None:
            self.job.total = total
        if counts:
            self.job.counts = {**self.job.counts, **counts}
        self._dirty = True
        now = time.monotonic()
        if force or now - self._last_write >= PROGRESS_EVERY_SECONDS:
            self.flush()
        if check:
            self.check()

    def flush(self) -> None:
        if not self._dirty:
            return
        total = self.job.total
        done = min(self.job.done, total) if total is not None else self.job.done
        Job.objects.filter(pk=self.job.pk).update(done=done, total=total, counts=self.job.counts)
        self._last_write = time.monotonic()
        self._dirty = False

    def cancelled(self) -> bool:
        """Whether a cancel was asked (read from the database at most twice a second)."""
        now = time.monotonic()
        if not self.job.cancel_requested and now - self._last_cancel_check >= CANCEL_CHECK_EVERY_SECONDS:
            self._last_cancel_check = now
            self.job.cancel_requested = bool(
                Job.objects.filter(pk=self.job.pk).values_list("cancel_requested", flat=True).first())
        return self.job.cancel_requested

    def check(self) -> None:
        if self.cancelled():
            raise JobCancelled

    @contextlib.contextmanager
    def result_file(self, filename: str, *, binary: bool = False) -> Iterator[IO[Any]]:
        """A file to write the result to, a temporary file on disk (never the whole result in
        memory), saved to the storage when the block ends without an error."""
        with tempfile.TemporaryFile() as raw:
            text = None if binary else io.TextIOWrapper(raw, encoding="utf-8", newline="")
            stream: IO[Any] = raw if text is None else text
            try:
                yield stream
                stream.flush()
            finally:
                if text is not None:
                    text.detach()  # the TemporaryFile closes the file; the wrapper must not close it again
            raw.seek(0)
            self.job.result_file.save(filename, File(raw, name=filename), save=False)
            self.job.result_name = filename[:200]
            Job.objects.filter(pk=self.job.pk).update(result_file=self.job.result_file.name,
                                                      result_name=self.job.result_name)

    @contextlib.contextmanager
    def csv_result(self, filename: str) -> Iterator[SafeCsvWriter]:
        """A CSV result written through the one CSV-safe cell writer (plumbing.csvsafe)."""
        with self.result_file(filename) as stream:
            yield SafeCsvWriter(stream)

    @contextlib.contextmanager
    def xlsx_result(self, filename: str, *, sheet: str = "Sheet") -> Iterator[SafeXlsxWriter]:
        """An XLSX result, one sheet written row by row through the same cell rule as CSV."""
        writer = SafeXlsxWriter(sheet)
        yield writer
        with self.result_file(filename, binary=True) as stream:
            writer.save(stream)

    def set_result_rows(self, rows: int) -> None:
        self.job.result_rows = rows
        Job.objects.filter(pk=self.job.pk).update(result_rows=rows)


class _Heartbeat:
    """Keeps the job's key alive in Redis while the work runs (a thread of the work horse, so it
    dies with it)."""

    def __init__(self, job_id: int) -> None:
        self.key = _alive_key(job_id)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-heartbeat-{job_id}", daemon=True)

    def beat(self) -> None:
        try:
            get_redis().set(self.key, str(time.time()), ex=HEARTBEAT_TTL_SECONDS)
        except RedisError:
            logger.warning("job heartbeat failed", exc_info=True)

    def forget(self) -> None:
        with contextlib.suppress(RedisError):
            get_redis().delete(self.key)

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.beat()

    def __enter__(self) -> _Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS)
        self.forget()


def _finish(job_id: int, status: str, reason: str = "", only_from: tuple[str, ...] | None = None) -> bool:
    """End the job as `status` if it may end so (JOB_STATES: its sources, narrowed to `only_from`,
    are the WHERE clause); False when it had left them (cancelled, finished, taken by a worker)."""
    sources = [s for s in JOB_STATES.sources(status) if only_from is None or s in only_from]
    return bool(Job.objects.filter(pk=job_id, status__in=sources).update(
        status=status, failure_reason=reason[:2000], finished_at=timezone.now()))


def job_execute(job_id: int) -> str:
    """The RQ entry point: run the job's function once. A job that is not queued (cancelled
    before it started, or delivered twice) is left alone."""
    heartbeat = _Heartbeat(job_id)
    heartbeat.beat()  # before the row says running, so no view ever sees a running job without it
    started = Job.objects.filter(pk=job_id, status__in=JOB_STATES.sources(JobStatus.RUNNING),
                                 cancel_requested=False).update(status=JobStatus.RUNNING, started_at=timezone.now())
    if not started:
        heartbeat.forget()
        return "skipped"
    job = Job.objects.select_related("started_by", "brand").get(pk=job_id)
    if staff_restricted(job.started_by):
        # Restricted after asking: a person's job (an export, an import) is theirs, read-only now.
        heartbeat.forget()
        _finish(job_id, JobStatus.FAILED, restriction_message())
        return JobStatus.FAILED
    handle = JobHandle(job)
    func: Callable[..., Any] = import_string(job.func)
    with heartbeat:
        try:
            func(handle, **job.kwargs)
            handle.flush()
        except JobCancelled:
            handle.flush()
            _finish(job_id, JobStatus.CANCELLED)
            return JobStatus.CANCELLED
        except DomainError as error:
            handle.flush()
            _finish(job_id, JobStatus.FAILED, str(error.message))
            return JobStatus.FAILED
        except Exception as error:
            logger.exception("job %s (%s) failed", job.code, job.kind)
            _finish(job_id, JobStatus.FAILED, gettext(
                "The job stopped on an unexpected error (%(error)s). Nothing after the last progress "
                "shown was written; the error is in the server's log.") % {"error": type(error).__name__})
            raise
    _finish(job_id, JobStatus.DONE)
    return JobStatus.DONE


# --- a worker that died ----------------------------------------------------------------------------


WORKER_DIED = _("The worker running this job stopped (it was restarted or crashed) before the job "
                "finished. What it wrote before stays written; start the job again.")
LOST = _("The job was lost before a worker took it (the job queue was emptied). Start it again.")


def _rq_status(job: Job) -> str | None:
    """RQ's status of the job ("queued", "started", "failed", ...), or None when RQ has no such job."""
    import django_rq
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RqJob

    try:
        rq_job = RqJob.fetch(rq_job_id(job), connection=django_rq.get_connection(QUEUE))
        status = rq_job.get_status(refresh=True)
    except NoSuchJobError:
        return None
    return str(status.value if hasattr(status, "value") else status) if status is not None else None


def job_liveness_check(job: Job) -> Job:
    """Mark `job` failed when its worker is gone; returns the job as it now stands."""
    if job.is_finished:
        return job
    try:
        if job.status == JobStatus.RUNNING:
            alive = get_redis().exists(_alive_key(job.pk))
            dead = not alive or _rq_status(job) in ("failed", "stopped", "canceled")
            if dead and _finish(job.pk, JobStatus.FAILED, str(WORKER_DIED), only_from=(JobStatus.RUNNING,)):
                logger.warning("job %s (%s): its worker died", job.code, job.kind)
        elif job.status == JobStatus.QUEUED:
            status = _rq_status(job)
            lost = (status is None and job.created_at < timezone.now() - LOST_AFTER) or status in (
                "failed", "stopped", "canceled")
            if lost and _finish(job.pk, JobStatus.FAILED, str(LOST), only_from=(JobStatus.QUEUED,)):
                logger.warning("job %s (%s): lost before it ran", job.code, job.kind)
    except RedisError:
        logger.warning("could not check job %s", job.code, exc_info=True)
        return job
    job.refresh_from_db()
    return job


def jobs_sweep() -> int:
    """Mark every unfinished job whose worker is gone as failed (Celery beat runs this)."""
    changed = 0
    for job in Job.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).order_by("id")[:1000]:
        if job_liveness_check(job).is_finished:
            changed += 1
    return changed


# --- reading --------------------------------------------------------------------------------------


def jobs_for(*, user: Any) -> QuerySet[Job]:
    """The jobs `user` started, newest first ("My jobs")."""
    return Job.objects.filter(started_by=user).select_related("brand").order_by("-created_at", "-id")


def job_counts(job: Job) -> list[tuple[str, str, int]]:
    """(key, label, value) for the counts the job's kind names, then any others it reported."""
    kind = job_kind(job.kind)
    out = [(key, str(label), int(job.counts.get(key, 0))) for key, label in kind.counts.items()]
    out += [(key, key, int(value)) for key, value in job.counts.items() if key not in kind.counts]
    return out

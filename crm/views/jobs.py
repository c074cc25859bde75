"""Pages of background jobs: a job's progress (an htmx partial that polls itself until the job
finishes), cancel, the result's download, and "My jobs"."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from crm import jobs
from crm.exceptions import DomainError
from crm.models import Job
from crm.permissions import AuthedRequest
from crm.views.ui import render_page

JOBS_PAGE_SIZE = 25


def job_or_404(request: HttpRequest, code: Any) -> Job:
    """The job, when the user may see it; "missing" and "not yours" look the same."""
    job = Job.objects.select_related("started_by", "brand").filter(code=code).first()
    if job is None or not jobs.job_can_manage(request.user, job):
        raise Http404
    return jobs.job_liveness_check(job)


def job_context(request: HttpRequest, job: Job) -> dict[str, Any]:
    return {
        "job": job,
        "job_kind": jobs.job_kind(job.kind),
        "job_counts": jobs.job_counts(job),
        "can_cancel": not job.is_finished and not job.cancel_requested,
        "can_download": bool(job.result_file) and job.status == "done" and jobs.job_can_download(request.user, job),
    }


@login_required
@require_GET
def job_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    job = job_or_404(request, code)
    return render_page(request, "crm/jobs/detail.html", job_context(request, job), partial="job-progress")


@login_required
@require_POST
def job_cancel(request: AuthedRequest, code: Any) -> HttpResponse:
    job = job_or_404(request, code)
    try:
        job = jobs.job_cancel(actor=request.user, job=job)
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("job_detail", job.code)


@login_required
@require_GET
def job_download(request: AuthedRequest, code: Any) -> FileResponse:
    job = job_or_404(request, code)
    if job.status != "done" or not job.result_file or not jobs.job_can_download(request.user, job):
        raise Http404
    try:
        handle = job.result_file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    return FileResponse(handle, as_attachment=True, filename=job.result_name or "result",
                        content_type="text/csv; charset=utf-8" if job.result_name.endswith(".csv") else None)


@login_required
@require_GET
def job_list(request: AuthedRequest) -> HttpResponse:
    page = Paginator(jobs.jobs_for(user=request.user), JOBS_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(job, jobs.job_kind(job.kind)) for job in page.object_list]
    return render(request, "crm/jobs/list.html", {"page_obj": page, "rows": rows})

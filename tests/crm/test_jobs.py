"""Background jobs (crm.jobs): run by a real RQ worker against the real Redis, their page and its
live progress, cancel, failures in words, a worker that died, the result file (streamed, CSV-safe,
only for those who may see it), and the access events of exports and searches."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse
from rq import SimpleWorker

from crm import jobs
from crm.lib.redis import get_redis
from crm.models import AccessEvent, Job, RoleCode
from plumbing.csvsafe import SafeCsvWriter, csv_cell
from tests.crm import job_funcs
from tests.crm.subprocess_env import REPO_ROOT, child_env
from tests.factories import make_brand, make_client, make_user
from tests.waiting import scaled

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    brand = make_brand(code="jobs")
    return {
        "brand": brand,
        "starter": make_user(role_code=RoleCode.DESK_MANAGER, brand=brand),
        "manager": make_user(role_code=RoleCode.DESK_MANAGER, brand=brand),
        "agent": make_user(role_code=RoleCode.SALES_AGENT, brand=brand),
        "outsider": make_user(role_code=RoleCode.DESK_MANAGER, brand=make_brand(code="elsewhere")),
    }


@pytest.fixture
def queue():
    q = django_rq.get_queue("default")
    q.empty()
    return q


@pytest.fixture(autouse=True)
def _no_peek():
    job_funcs.PEEK = None
    yield
    job_funcs.PEEK = None


def _start(people, capture, func: str, **kwargs) -> Job:
    with capture(execute=True):
        return jobs.job_start(kind="test.count", actor=people["starter"], brand=people["brand"], title="Counting",
                              func=func, kwargs=kwargs)


def _work(queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def _page(user, job, *, partial: bool = False) -> str:
    http = HttpClient()
    http.force_login(user)
    headers = {"HTTP_HX_REQUEST": "true"} if partial else {}
    response = http.get(reverse("job_detail", args=[job.code]), **headers)
    assert response.status_code == 200
    return response.content.decode()


# --- the one CSV cell rule --------------------------------------------------------------------


@pytest.mark.parametrize(("value", "cell"), [
    ("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-1+2", "'-1+2"), ("@cmd", "'@cmd"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("plain", "plain"), ("a=b", "a=b"), ("", ""), (None, ""),
    (-5, "-5"), (2.5, "2.5"),
])
def test_one_rule_neutralises_every_formula_start(value, cell):
    assert csv_cell(value) == cell


def test_the_safe_writer_applies_the_rule_to_every_cell():
    out = io.StringIO()
    SafeCsvWriter(out).writerow(["=1", "\tx", 3, "ok"])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1", "'\tx", "3", "ok"]


# --- running --------------------------------------------------------------------------------------


def test_a_job_is_queued_only_after_commit_and_runs_on_a_real_worker(people, queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = jobs.job_start(kind="test.count", actor=people["starter"], brand=people["brand"], title="Counting",
                             func="tests.crm.job_funcs.count", kwargs={"n": 9})
        assert queue.count == 0  # not before the row is committed
    for callback in callbacks:
        callback()
    assert queue.count == 1 and job.status == "queued"
    _work(queue)
    job.refresh_from_db()
    assert job.status == "done" and (job.done, job.total) == (9, 9)
    assert job.counts == {"created": 6, "skipped": 3}
    assert job.started_at and job.finished_at and job.started_at <= job.finished_at
    page = _page(people["starter"], job)
    assert 'data-count="created">6<' in page and 'data-count="skipped">3<' in page
    assert "every 1s" not in page  # finished: the page stops polling


def test_the_partial_shows_progress_while_the_job_runs(people, queue, django_capture_on_commit_callbacks):
    seen = {}

    def peek(handle, i):
        seen["partial"] = _page(people["starter"], handle.job, partial=True)

    job_funcs.PEEK = peek
    job = _start(people, django_capture_on_commit_callbacks, "tests.crm.job_funcs.count", n=10, peek_at=4)
    _work(queue)
    mid = seen["partial"]
    assert mid.lstrip().startswith('<div id="job-progress"')  # the swap target alone, not the page
    assert 'hx-trigger="every 1s"' in mid and "4 / 10" in mid
    assert '<progress class="job-progress" max="100" value="40">' in mid
    assert 'data-count="created">3<' in mid and 'data-job-status="running"' in mid
    assert "style=" not in mid
    job.refresh_from_db()
    assert job.status == "done"


def test_cancel_stops_a_running_job(people, queue, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(jobs, "CANCEL_CHECK_EVERY_SECONDS", 0.0)
    answers = {}

    def peek(handle, i):
        agent = HttpClient()
        agent.force_login(people["agent"])  # neither the starter nor a manager
        answers["agent"] = agent.post(reverse("job_cancel", args=[handle.job.code])).status_code
        http = HttpClient()
        http.force_login(people["starter"])
        answers["starter"] = http.post(reverse("job_cancel", args=[handle.job.code])).status_code

    job_funcs.PEEK = peek
    job = _start(people, django_capture_on_commit_callbacks, "tests.crm.job_funcs.count", n=500, peek_at=5)
    _work(queue)
    job.refresh_from_db()
    assert answers == {"agent": 404, "starter": 302}
    assert job.status == "cancelled" and job.done == 6  # stopped at its next report
    assert "Cancel the job" not in _page(people["starter"], job)


def test_a_queued_job_cancelled_by_a_manager_never_runs(people, queue, django_capture_on_commit_callbacks):
    job = _start(people, django_capture_on_commit_callbacks, "tests.crm.job_funcs.count", n=3)
    outsider = HttpClient()
    outsider.force_login(people["outsider"])  # a manager of another brand
    assert outsider.post(reverse("job_cancel", args=[job.code])).status_code == 404
    http = HttpClient()
    http.force_login(people["manager"])
    assert http.post(reverse("job_cancel", args=[job.code])).status_code == 302
    _work(queue)
    job.refresh_from_db()
    assert job.status == "cancelled" and job.done == 0 and job.started_at is None


def test_a_failing_job_shows_its_reason(people, queue, django_capture_on_commit_callbacks):
    job = _start(people, django_capture_on_commit_callbacks, "tests.crm.job_funcs.refuse")
    _work(queue)
    job.refresh_from_db()
    assert job.status == "failed" and job.done == 1
    page = _page(people["starter"], job)
    assert "The source file was removed before the job could read it." in page and "every 1s" not in page


def test_an_unexpected_error_is_named_in_words_without_its_internals(people, queue, django_capture_on_commit_callbacks,
                                                                      caplog):
    job = _start(people, django_capture_on_commit_callbacks, "tests.crm.job_funcs.crash")
    _work(queue)
    job.refresh_from_db()
    assert job.status == "failed" and "ZeroDivisionError" in job.failure_reason
    assert "secret internals" not in job.failure_reason
    assert "secret internals" in caplog.text  # the log has the details
    assert "unexpected error" in _page(people["starter"], job)


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_died_is_shown_failed(people, queue):
    job = jobs.job_start(kind="test.count", actor=people["starter"], brand=people["brand"], title="Doomed",
                         func="tests.crm.job_funcs.die", kwargs={})
    assert queue.count == 1
    done = subprocess.run([sys.executable, "manage.py", "rqworker", "default", "--burst"], cwd=REPO_ROOT,
                          env=child_env(), capture_output=True, timeout=scaled(120))
    assert done.returncode == 0, done.stderr[-2000:]
    job.refresh_from_db()
    assert job.status == "running" and job.done == 1  # the horse died before it could write more
    page = _page(people["starter"], job)
    assert 'data-job-status="failed"' in page and "worker running this job stopped" in page
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None


def test_a_running_job_whose_heartbeat_stopped_is_shown_failed(people, queue, django_capture_on_commit_callbacks):
    seen = {}

    def peek(handle, i):
        get_redis().delete(f"crm:job:{handle.job.pk}:alive")  # as when the whole machine went away
        seen["partial"] = _page(people["starter"], handle.job, partial=True)

    job_funcs.PEEK = peek
    job = _start(people, django_capture_on_commit_callbacks, "tests.crm.job_funcs.count", n=3, peek_at=2)
    _work(queue)
    assert 'data-job-status="failed"' in seen["partial"] and "every 1s" not in seen["partial"]
    job.refresh_from_db()
    assert job.status == "failed"  # the worker's own end does not overwrite it


def test_the_sweep_fails_a_queued_job_the_queue_lost(people, queue, django_capture_on_commit_callbacks):
    job = _start(people, django_capture_on_commit_callbacks, "tests.crm.job_funcs.count", n=3)
    queue.empty()
    assert jobs.jobs_sweep() == 0  # just queued: the enqueue may still be on its way
    Job.objects.filter(pk=job.pk).update(created_at=job.created_at - jobs.LOST_AFTER * 2)
    assert jobs.jobs_sweep() == 1
    job.refresh_from_db()
    assert job.status == "failed" and "lost" in job.failure_reason


# --- the result file ------------------------------------------------------------------------------


def test_the_result_is_a_file_in_the_storage_downloadable_only_by_its_starter(
        people, queue, django_capture_on_commit_callbacks, login_verified):
    job = _start(people, django_capture_on_commit_callbacks, "tests.crm.job_funcs.write_cells",
                 cells=["=HYPERLINK(1)", "\tx", "\r=1", "-2+3", "@me", "fine"])
    _work(queue)
    job.refresh_from_db()
    assert job.status == "done" and job.result_rows == 6
    path = Path(settings.MEDIA_ROOT) / job.result_file.name
    assert path.is_file() and job.result_file.name.startswith("jobs/")
    http = HttpClient()
    http.force_login(people["starter"])
    response = http.get(reverse("job_download", args=[job.code]))
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(1)", "'\tx", "'\r=1", "'-2+3", "'@me", "fine"]
    manager = HttpClient()
    manager.force_login(people["manager"])  # may see the job, not the data its starter's scope gave
    assert manager.get(reverse("job_detail", args=[job.code])).status_code == 200
    assert manager.get(reverse("job_download", args=[job.code])).status_code == 404
    for user in (people["agent"], people["outsider"]):
        other = HttpClient()
        other.force_login(user)
        assert other.get(reverse("job_detail", args=[job.code])).status_code == 404
        assert other.get(reverse("job_download", args=[job.code])).status_code == 404
    admin = HttpClient()
    login_verified(admin, make_user(role_code=RoleCode.ADMIN))
    assert admin.get(reverse("job_download", args=[job.code])).status_code == 200


def test_my_jobs_lists_only_mine(people, queue, django_capture_on_commit_callbacks):
    mine = _start(people, django_capture_on_commit_callbacks, "tests.crm.job_funcs.count", n=1)
    with django_capture_on_commit_callbacks(execute=True):
        theirs = jobs.job_start(kind="test.count", actor=people["manager"], brand=people["brand"], title="Theirs",
                                func="tests.crm.job_funcs.count", kwargs={"n": 1})
    http = HttpClient()
    http.force_login(people["starter"])
    page = http.get(reverse("job_list")).content.decode()
    assert reverse("job_detail", args=[mine.code]) in page and reverse("job_detail", args=[theirs.code]) not in page


# --- the segment export and access events ----------------------------------------------------------


def test_a_segment_export_streams_csv_safe_rows_to_a_file_and_records_the_export(
        people, queue, django_capture_on_commit_callbacks):
    from leads.segments import segment_export_request, segment_save

    admin = make_user(role_code=RoleCode.ADMIN)
    names = ["=cmd|' /C calc'!A0", "@SUM(1)", "Plain"]
    for i, name in enumerate(names):
        make_client(actor=admin, brand=people["brand"], first_name=name, last_name=f"Person{i}",
                    email=f"p{i}@example.com")
    segment = segment_save(actor=admin, brand=people["brand"], name="Everyone", definition={})
    with django_capture_on_commit_callbacks(execute=True):
        job = segment_export_request(actor=admin, segment=segment)
    _work(queue)
    job.refresh_from_db()
    assert job.status == "done" and job.result_rows == 3 and (job.done, job.total) == (3, 3)
    with job.result_file.open("rb") as f:
        rows = list(csv.DictReader(io.StringIO(f.read().decode())))
    assert sorted(r["first_name"] for r in rows) == sorted(["'=cmd|' /C calc'!A0", "'@SUM(1)", "Plain"])
    event = AccessEvent.objects.get(kind="export")
    assert event.user == admin and event.rows == 3 and "Everyone" in event.detail


def test_every_client_search_is_recorded_with_its_row_count(people, login_verified):
    admin = make_user(role_code=RoleCode.ADMIN)
    for i in range(3):
        make_client(actor=admin, brand=people["brand"], first_name="Zelda", last_name=f"Quist{i}",
                    email=f"z{i}@example.com")
    make_client(actor=admin, brand=people["brand"], first_name="Other", last_name="Person", email="o@example.com")
    http = HttpClient()
    login_verified(http, admin)
    assert http.get(reverse("client_search"), {"q": "zeld"}).status_code == 200
    assert http.get(reverse("client_list"), {"q": "quist"}).status_code == 200
    assert http.get(reverse("client_list")).status_code == 200  # no query: not a search
    assert http.get(reverse("lead_assign"), {"q": "nobody-like-this"}).status_code == 200
    events = list(AccessEvent.objects.filter(kind="search").order_by("id").values_list("user", "detail", "rows"))
    me = admin.pk
    assert events == [(me, "search: zeld", 3), (me, "clients: quist", 3), (me, "lead queue: nobody-like-this", 0)]

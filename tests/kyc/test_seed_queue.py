"""The demo seed (every state, idempotent), the queue page's pinned query count and its figures, the
policy page."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import AuditLog
from kyc.models import KycPolicy, KycStatus, Submission, SubmissionStatus
from kyc.permissions import submission_queryset_for_user
from kyc.selectors import queue_figures
from kyc.services import submission_approve, submission_checks_record
from tests.factories import make_client
from tests.kyc.conftest import report, submit, submit_for_review

pytestmark = pytest.mark.django_db


def test_seed_makes_every_state_and_running_it_again_changes_nothing(kyc_world):
    for n in range(20):
        make_client(actor=kyc_world.agent, brand=kyc_world.brand, stage="registered", email=f"seed{n}@example.com")
    call_command("kyc_seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115, PTH123
    statuses = set(Submission.objects.values_list("status", flat=True))
    assert {"approved", "rejected", "info_requested", "review"} <= statuses
    profiles = set(kyc_world.brand.clients.values_list("kyc_profile__status", flat=True))
    assert {KycStatus.APPROVED, KycStatus.REJECTED, KycStatus.PENDING, KycStatus.EXPIRED} <= profiles
    assert Submission.objects.filter(status=SubmissionStatus.REVIEW, first_approval_by__isnull=False).exists()
    count = Submission.objects.count()
    call_command("kyc_seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115, PTH123
    assert Submission.objects.count() == count


def test_queue_page_query_count_is_pinned(kyc_world, client, login_verified, django_assert_max_num_queries):
    for n in range(3):
        submit_for_review(make_client(actor=kyc_world.agent, brand=kyc_world.brand, email=f"q{n}@example.com"))
    login_verified(client, kyc_world.officer)
    client.get(reverse("kyc_queue"))
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("kyc_queue")).status_code == 200
    for n in range(3, 12):
        submit_for_review(make_client(actor=kyc_world.agent, brand=kyc_world.brand, email=f"q{n}@example.com"))
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("kyc_queue"))
    assert page.content.decode().count("data-submission=") == 12
    assert len(many) == len(few) <= 16


def test_queue_is_ordered_by_sla_and_the_figures_count_decisions(kyc_world):
    with time_machine.travel(datetime(2031, 3, 1, 9, 0), tick=False):
        early = submit_for_review(kyc_world.client)
    other = make_client(actor=kyc_world.agent, brand=kyc_world.brand, email="later@example.com")
    with time_machine.travel(datetime(2031, 3, 1, 10, 0), tick=False):
        later = submit_for_review(other)
        auto = make_client(actor=kyc_world.agent, brand=kyc_world.brand, email="auto@example.com")
        submission_checks_record(submission=submit(auto), report=report())
    from kyc.selectors import queue

    scoped = submission_queryset_for_user(kyc_world.officer)
    assert [s.pk for s in queue(submissions=scoped)] == [early.pk, later.pk]
    with time_machine.travel(datetime(2031, 3, 1, 13, 0), tick=False):
        submission_approve(submission=early, actor=kyc_world.officer)
        figures = queue_figures(submissions=scoped, days=30)
    assert figures.decided == 2 and figures.straight_through == 1 and figures.straight_through_rate == 50.0
    assert figures.waiting == 1 and figures.median_hours == 2.0
    assert queue_figures(submissions=submission_queryset_for_user(kyc_world.outsider), days=30).decided == 0


def test_policy_page_compliance_edits_agents_get_no_page(kyc_world, client, login_verified):
    url = reverse("kyc_policy_edit", args=[kyc_world.brand.code])
    client.force_login(kyc_world.agent)
    assert client.get(reverse("kyc_policy_list")).status_code == 404
    assert client.post(url, {"poa_max_age_days": "30"}).status_code == 404
    login_verified(client, kyc_world.officer)
    bad = client.post(url, {"allowed_issuing_countries": "GB", "poa_max_age_days": "60", "expiry_warning_days": "14",
                            "review_sla_hours": "12", "high_risk_countries": "IR"})
    assert bad.status_code == 400 and "GB" in bad.content.decode()
    good = client.post(url, {"allowed_issuing_countries": "gbr, deu", "poa_max_age_days": "60",
                             "expiry_warning_days": "14", "review_sla_hours": "12", "high_risk_countries": "IR, KP",
                             "expiry_holds": ["withdrawals", "deposits"]})
    assert good.status_code == 302
    policy = KycPolicy.objects.get(brand=kyc_world.brand)
    assert policy.allowed_issuing_countries == ["DEU", "GBR"] and policy.review_sla_hours == 12
    assert AuditLog.objects.filter(action="kyc.policy_save", object_id=kyc_world.brand.code).count() == 2


def _figure(page: str, name: str) -> str:
    start = page.index(f'data-figure="{name}">') + len(f'data-figure="{name}">')
    return page[start:page.index("</dd>", start)]


def test_queue_figures_are_cached_until_a_decision_and_the_page_counts_what_its_filter_shows(
        kyc_world, client, login_verified, django_capture_on_commit_callbacks):
    waiting = []
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            waiting.append(submit_for_review(make_client(actor=kyc_world.agent, brand=kyc_world.brand,
                                                         email=f"c{n}@example.com")))
    login_verified(client, kyc_world.officer)
    first = client.get(reverse("kyc_queue")).content.decode()
    assert _figure(first, "waiting").strip() == "3" and _figure(first, "decided").strip() == "0"
    assert "(3 waiting)" in first
    with CaptureQueriesContext(connection) as again:
        assert client.get(reverse("kyc_queue")).status_code == 200
    assert not any("percentile_cont" in q["sql"] for q in again.captured_queries)  # the period figures: cached
    assert sum("COUNT(" in q["sql"] for q in again.captured_queries) == 1  # waiting, overdue and the pages' count

    with django_capture_on_commit_callbacks(execute=True):
        submission_approve(submission=waiting[0], actor=kyc_world.officer)
    after = client.get(reverse("kyc_queue")).content.decode()
    assert _figure(after, "waiting").strip() == "2" and _figure(after, "decided").strip() == "1"

    with django_capture_on_commit_callbacks(execute=True):
        from kyc.services import submission_claim
        submission_claim(submission=waiting[1], actor=kyc_world.officer)
    mine = client.get(reverse("kyc_queue") + "?claimed=mine").content.decode()
    assert mine.count("data-submission=") == 1 and "(1 waiting)" in mine
    assert _figure(mine, "waiting").strip() == "2"  # the figures stay the whole queue's
    unclaimed = client.get(reverse("kyc_queue") + "?claimed=unclaimed").content.decode()
    assert f'data-submission="{waiting[2].code}"' in unclaimed and "(1 waiting)" in unclaimed


def test_queue_figures_are_cached_per_scope(kyc_world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        submission = submit_for_review(kyc_world.client)
        submission_approve(submission=submission, actor=kyc_world.officer)
    officer = queue_figures(submissions=submission_queryset_for_user(kyc_world.officer), days=30, cached=True)
    outsider = queue_figures(submissions=submission_queryset_for_user(kyc_world.outsider), days=30, cached=True)
    assert officer.decided == 1 and outsider.decided == 0

"""An erased client's names masked where the audit log's rows are shown (issue 64, section 2): the rows keep
what they recorded (the chain still verifies), the audit log's page shows "[erased <day>]" in place of the old
name in the client's own rows, in rows about them (a task) and where the whole name stands in a row about
something else (a job's title); another client who shares a first name keeps hers."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.erasure import erasure_apply, erasure_plan
from compliance.erasure_mask import ErasedSubject, ErasureMask, erasure_fingerprints
from compliance.trail import trail_export_request
from crm.audit import verify_chain
from crm.models import AuditLog, RoleCode
from crm.services import task_create
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db

MARKER = re.compile(r"\[erased \d{4}-\d{2}-\d{2}\]")


@pytest.fixture
def world():
    """Two clients called Zenobia, each with a task naming her; the officer exports the first one's trail (a
    job titled with her name) and erases her."""
    brand = make_brand()
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    erased = make_client(brand=brand, owner=agent, first_name="Zenobia", last_name="Quartermaine",
                         email="zenobia.q@example.com", phone="+442071838750", country="GB")
    kept = make_client(brand=brand, owner=agent, first_name="Zenobia", last_name="Fairweather",
                       email="zenobia.f@example.com", phone="+442071838751", country="GB")
    task_create(actor=agent, title="Call Zenobia Quartermaine about the payout", assignee=agent, client=erased)
    task_create(actor=agent, title="Send Zenobia the forms", assignee=agent, client=erased)
    task_create(actor=agent, title="Call Zenobia Fairweather about her bonus", assignee=agent, client=kept)
    today = timezone.localdate()
    trail_export_request(actor=officer, brand=brand, start=today - dt.timedelta(days=7), end=today, client=erased)
    erasure_apply(client=erased, actor=officer, plan=erasure_plan(erased))
    return SimpleNamespace(brand=brand, officer=officer, erased=erased, kept=kept)


def _audit_page(client, login_verified, user, **params) -> str:
    login_verified(client, user)
    response = client.get(reverse("audit_list"), params)
    assert response.status_code == 200
    return response.content.decode()


def _shown_row(html: str, row: AuditLog) -> str:
    """The text of one row of the audit log's page, tags dropped."""
    start = html.index(f'id="audit-{row.pk}"')
    end = html.find('id="audit-', start + 1)
    return re.sub(r"<[^>]+>", "", html[start:end if end > 0 else None])


def test_the_audit_log_shows_an_erased_clients_name_masked_where_it_was_recorded(world, client, login_verified):
    html = _audit_page(client, login_verified, world.officer)
    assert "quartermaine" not in html.lower()
    tasks = AuditLog.objects.filter(action="task.create", after__client=str(world.erased.code)).order_by("id")
    assert len(tasks) == 2
    whole, first_only = (_shown_row(html, row) for row in tasks)
    assert re.search(r"Call \[erased \d{4}-\d{2}-\d{2}\] about the payout", whole), whole
    assert re.search(r"Send \[erased \d{4}-\d{2}-\d{2}\] the forms", first_only), first_only  # a row about her
    job = _shown_row(html, AuditLog.objects.get(action="job.start"))
    assert re.search(r"Compliance trail: \[erased \d{4}-\d{2}-\d{2}\],", job), job  # her whole name, no code
    # Her own rows: the profile's history as the client's filter shows it.
    own = _audit_page(client, login_verified, world.officer, object_id=str(world.erased.code))
    assert MARKER.search(own) and "zenobia" not in own.lower() and "quartermaine" not in own.lower()
    assert "keyed hashes]" in own  # the erasure's own row says it holds fingerprints, not what they are


def test_the_rows_keep_what_they_recorded_and_the_chain_verifies_after_the_erasure(world):
    task_row = AuditLog.objects.filter(action="task.create", after__client=str(world.erased.code)).order_by("id")[0]
    assert task_row.after["title"] == "Call Zenobia Quartermaine about the payout"
    erasure = AuditLog.objects.get(action="compliance.client_erased", object_id=str(world.erased.code))
    assert "zenobia" not in str(erasure.after).lower() and "quartermaine" not in str(erasure.after).lower()
    assert erasure.after["fingerprints"]["names"] and erasure.after["fingerprints"]["emails"]
    report = verify_chain()
    assert report.ok, report.problem


def test_a_client_who_was_not_erased_keeps_her_names_in_the_audit_log(world, client, login_verified):
    html = _audit_page(client, login_verified, world.officer)
    assert "Call Zenobia Fairweather about her bonus" in html
    own = _audit_page(client, login_verified, world.officer, object_id=str(world.kept.code))
    assert "Fairweather" in own and not MARKER.search(own)


def test_the_mask_takes_any_word_of_the_names_in_rows_about_her_and_only_the_whole_name_elsewhere():
    prints = erasure_fingerprints(SimpleNamespace(first_name="Zenobia Ann", last_name="Quartermaine-Holt",
                                                  email="Zenobia.Q@example.com", phone="+442071838750"))
    her = ErasedSubject(code="c0de", marker="[erased 2026-11-29]", names=frozenset(prints["names"]),
                        contacts=frozenset(prints["emails"] + prints["phones"]))
    mask = ErasureMask([her])
    assert mask.text("ZENOBIA asked about Lisbon", [her]) == "[erased 2026-11-29] asked about Lisbon"
    assert mask.text("Zenobia asked about Lisbon") == "Zenobia asked about Lisbon"  # a row about someone else
    assert mask.text("Trail: Quartermaine-Holt, Zenobia (GB)") == "Trail: [erased 2026-11-29] (GB)"
    assert mask.text("Zenobia Fairweather") == "Zenobia Fairweather"
    assert mask.text("mail zenobia.q@example.com or +44 20 7183 8750") == (
        "mail [erased 2026-11-29] or [erased 2026-11-29]")
    assert mask.text("mail zenobia.f@example.com") == "mail zenobia.f@example.com"

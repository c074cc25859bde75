"""Compliance cases: an AML alert (the aml branch's event) and a confirmed screening hit open the
client's one case and join it; the guarded state machine; four-eyes on reporting; restricting the
client from the case; reopening rules; SLA by priority; notes and attachments; the report's PDF and
its filing; nothing of a case reaches the sales floor or the client."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.cases import (
    case_approve,
    case_assign,
    case_attachment_add,
    case_decide,
    case_item_attach,
    case_narrative_set,
    case_note_add,
    case_reopen,
    case_review_start,
    case_sar_filing_record,
    case_send_back,
)
from compliance.exceptions import CaseRefused
from compliance.models import Case, Restriction
from crm import events
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Event, RoleCode
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def world(db, settings, tmp_path):
    settings.COMPLIANCE_CASE_STORAGE_DIR = tmp_path / "cases"
    brand = make_brand()
    desk = make_desk(brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Karim Officer")
    officer2 = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Second Officer")
    client = make_client(actor=agent, brand=brand, first_name="Omar", last_name="Saleh", email="omar@example.com")
    return SimpleNamespace(brand=brand, desk=desk, agent=agent, officer=officer, officer2=officer2, client=client)


def raise_alert(world: Any, amount: str) -> Any:
    """An AML alert as the rules raise it: a large deposit posted to the client's wallet, the rules run
    (the alert's event names no client: the handler finds it from the alert)."""
    from tests.compliance.aml_support import deposit, run

    deposit(world.client, amount)
    [alert] = run(world)
    return alert


def deliver(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        events.dispatch_pending()


def case_of(client: Any) -> Case:
    return Case.objects.get(client=client, status__in=["open", "in_review", "pending_approval"])


def reviewed(world: Any, *, score: int = 50) -> Case:
    case = case_item_attach(client=world.client, kind="aml_alert", ref_id=1, summary="large deposit v1",
                            score=score).case
    return case_review_start(case=case, actor=world.officer)


# --- items arrive ----------------------------------------------------------------------------------

def test_alerts_raised_for_a_client_open_one_case_and_join_it(world, django_capture_on_commit_callbacks):
    from tests.compliance.aml_support import rule

    rule(world, "large_transaction", amounts={"USD": "10000"}, direction="both")
    first = raise_alert(world, "10000.00")  # at the threshold: score 50
    deliver(django_capture_on_commit_callbacks)
    second = raise_alert(world, "40000.00")  # far over it: a more urgent alert
    deliver(django_capture_on_commit_callbacks)
    case = case_of(world.client)
    assert [(i.kind, i.ref_id, i.score) for i in case.items.all()] == [
        ("aml_alert", str(first.pk), first.score), ("aml_alert", str(second.pk), second.score)]
    assert first.score == 50 and second.score >= 90
    assert case.items.last().summary.startswith("large_transaction v1")
    # The second alert was more urgent: the case is critical, due 24 hours after it opened.
    assert case.priority == "critical" and case.due_at == case.opened_at + dt.timedelta(hours=24)
    opened = Event.objects.get(name="compliance.case_opened")
    assert opened.client_id is None and opened.data["client"] == str(world.client.code)  # not on the timeline


def test_the_same_alert_delivered_twice_is_attached_once(world):
    first = case_item_attach(client=world.client, kind="aml_alert", ref_id=7, summary="x", score=10)
    again = case_item_attach(client=world.client, kind="aml_alert", ref_id=7, summary="x", score=10)
    assert first.pk == again.pk and Case.objects.count() == 1


def test_a_confirmed_screening_hit_opens_a_critical_case(world, settings, django_capture_on_commit_callbacks):
    from pathlib import Path

    from compliance.services import client_screen, screening_hit_decide, watchlist_load
    from compliance.watchlists.parsers import SourceFile

    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "1.01"  # one officer decides
    fixtures = Path(__file__).resolve().parent / "fixtures"
    with django_capture_on_commit_callbacks(execute=False):
        watchlist_load(name="OFAC SDN", fmt="ofac-csv",
                       files=[SourceFile(n, (fixtures / n).read_bytes()) for n in ("sdn.csv", "alt.csv", "add.csv")])
    listed = make_client(actor=world.agent, brand=world.brand, first_name="Sergey", last_name="Petrov",
                         email="sp@example.com", country="RU")
    [hit] = client_screen(client_id=listed.pk, trigger="details_changed")
    with django_capture_on_commit_callbacks(execute=False):
        screening_hit_decide(hit=hit, actor=world.officer, action="confirm", reason="Same person")
    deliver(django_capture_on_commit_callbacks)
    case = case_of(listed)
    [item] = case.items.all()
    assert (item.kind, item.ref_id, case.priority) == ("screening_hit", str(hit.code), "critical")
    assert case.due_at == case.opened_at + dt.timedelta(hours=24)


def test_a_second_unclosed_case_for_the_client_is_refused_by_the_database(world):
    case = case_item_attach(client=world.client, kind="aml_alert", ref_id=1, summary="a").case
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.create(client=world.client, opened_at=timezone.now(), due_at=case.due_at)


# --- the state machine -----------------------------------------------------------------------------

def test_a_case_cannot_be_decided_before_review_nor_twice(world):
    case = case_item_attach(client=world.client, kind="aml_alert", ref_id=1, summary="a").case
    with pytest.raises(CaseRefused):
        case_decide(case=case, actor=world.officer, decision="no_action", reason="Nothing found")
    case = case_review_start(case=case, actor=world.officer)
    assert (case.status, case.assignee) == ("in_review", world.officer)
    with pytest.raises(CaseRefused):
        case_review_start(case=case, actor=world.officer)
    case = case_decide(case=case, actor=world.officer, decision="no_action", reason="Salary, documented")
    assert (case.status, case.decision, case.decided_by) == ("closed", "no_action", world.officer)
    with pytest.raises(CaseRefused):
        case_decide(case=case, actor=world.officer, decision="restrict", reason="again")
    assert [s.action for s in case.steps.all()] == ["opened", "review_started", "closed"]
    assert AuditLog.objects.filter(action="compliance.case_closed").count() == 1


def test_a_decision_needs_its_reason_and_a_known_decision(world):
    case = reviewed(world)
    with pytest.raises(ValidationFailed) as missing:
        case_decide(case=case, actor=world.officer, decision="no_action", reason="  ")
    assert "reason" in missing.value.fields
    with pytest.raises(ValidationFailed) as unknown:
        case_decide(case=case, actor=world.officer, decision="offboard_everyone", reason="x")
    assert "decision" in unknown.value.fields
    case.refresh_from_db()
    assert case.status == "in_review"


def test_closing_and_restricting_restricts_the_client_in_neutral_words(world):
    case = reviewed(world)
    case_decide(case=case, actor=world.officer, decision="restrict", reason="Third-party funding",
                restrict_kinds=["no_withdrawal"])
    [row] = Restriction.objects.filter(client=world.client)
    assert row.kind == "no_withdrawal" and row.imposed_by == world.officer
    assert "Third-party" not in row.reason and row.reason.startswith("Compliance review")


def test_reporting_needs_the_narrative_and_a_second_officer(world):
    case = reviewed(world)
    with pytest.raises(ValidationFailed) as no_narrative:
        case_decide(case=case, actor=world.officer, decision="report", reason="Structuring")
    assert "narrative" in no_narrative.value.fields
    case_narrative_set(case=case, actor=world.officer, narrative="Nine deposits of 9,900 USD in five days.")
    case = case_decide(case=case, actor=world.officer, decision="report", reason="Structuring")
    assert (case.status, case.proposed_decision, case.proposed_by) == ("pending_approval", "report", world.officer)
    with pytest.raises(CaseRefused) as same:
        case_approve(case=case, actor=world.officer)
    assert same.value.code == "second_officer_required"
    case.refresh_from_db()
    assert case.status == "pending_approval"
    case = case_approve(case=case, actor=world.officer2)
    assert (case.status, case.decision, case.decided_by, case.approved_by) == (
        "closed", "report", world.officer, world.officer2)


def test_the_database_refuses_an_approval_by_the_proposing_officer(world):
    case = reviewed(world)
    case_narrative_set(case=case, actor=world.officer, narrative="facts")
    case_decide(case=case, actor=world.officer, decision="report", reason="r")
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(approved_by=world.officer)


def test_a_second_officer_sends_a_report_back_to_review(world):
    case = reviewed(world)
    case_narrative_set(case=case, actor=world.officer, narrative="facts")
    case = case_decide(case=case, actor=world.officer, decision="report", reason="r")
    with pytest.raises(CaseRefused):
        case_send_back(case=case, actor=world.officer, reason="I changed my mind")
    case = case_send_back(case=case, actor=world.officer2, reason="The deposits are salary")
    assert (case.status, case.proposed_decision, case.proposed_by) == ("in_review", "", None)


def test_reopening_a_closed_case_within_the_window_only_and_not_beside_another(world, time_machine):
    case = reviewed(world)
    case = case_decide(case=case, actor=world.officer, decision="no_action", reason="Fine")
    case = case_reopen(case=case, actor=world.officer2, reason="New documents contradict the salary")
    assert (case.status, case.decision, case.closed_at) == ("in_review", "", None)
    case = case_decide(case=case, actor=world.officer, decision="no_action", reason="Still fine")
    # A new alert after closing opens a new case: the old one cannot be reopened beside it.
    newer = case_item_attach(client=world.client, kind="aml_alert", ref_id=2, summary="b").case
    assert newer.pk != case.pk
    with pytest.raises(CaseRefused) as beside:
        case_reopen(case=case, actor=world.officer, reason="again")
    assert beside.value.code == "other_case_open"
    newer = case_review_start(case=newer, actor=world.officer)
    case_decide(case=newer, actor=world.officer, decision="no_action", reason="ok")
    time_machine.move_to(timezone.now() + dt.timedelta(days=91))
    with pytest.raises(CaseRefused) as late:
        case_reopen(case=case, actor=world.officer, reason="too late")
    assert late.value.code == "reopen_too_late"


def test_only_compliance_officers_work_cases(world):
    case = case_item_attach(client=world.client, kind="aml_alert", ref_id=1, summary="a").case
    with pytest.raises(NotAllowed):
        case_review_start(case=case, actor=world.agent)
    with pytest.raises(NotAllowed):
        case_note_add(case=case, actor=world.agent, body="hello")


def test_a_case_is_assigned_to_an_officer_and_not_to_a_sales_agent(world):
    case = case_item_attach(client=world.client, kind="aml_alert", ref_id=1, summary="a").case
    case = case_assign(case=case, assignee=world.officer2, actor=world.officer)
    assert case.assignee == world.officer2
    with pytest.raises(ValidationFailed) as refused:
        case_assign(case=case, assignee=world.agent, actor=world.officer)
    assert "assignee" in refused.value.fields


def test_an_overdue_case_is_overdue(world, time_machine):
    case = case_item_attach(client=world.client, kind="aml_alert", ref_id=1, summary="a", score=95).case
    assert case.priority == "critical" and not case.overdue_at(timezone.now())
    assert case.overdue_at(timezone.now() + dt.timedelta(hours=25))


# --- notes, attachments, the report ----------------------------------------------------------------

def test_notes_and_attachments_are_kept_and_bad_files_refused(world):
    from compliance import case_storage

    case = case_item_attach(client=world.client, kind="aml_alert", ref_id=1, summary="a").case
    case_note_add(case=case, actor=world.officer, body="Called the bank")
    row = case_attachment_add(case=case, actor=world.officer, filename="statement.pdf", data=PDF)
    assert (row.content_type, row.size) == ("application/pdf", len(PDF))
    assert case_storage.file_read(row.storage_name) == PDF
    with pytest.raises(ValidationFailed) as exe:
        case_attachment_add(case=case, actor=world.officer, filename="x.pdf", data=b"MZ\x90\x00")
    assert "file" in exe.value.fields
    with pytest.raises(ValidationFailed):
        case_attachment_add(case=case, actor=world.officer, filename="empty.pdf", data=b"")
    assert case.attachments.count() == 1 and [n.body for n in case.notes.all()] == ["Called the bank"]


def test_the_report_is_drafted_as_a_pdf_and_its_filing_recorded(world):
    from compliance.case_selectors import case_sar_context
    from compliance.cases import case_sar_pdf

    case = reviewed(world)
    case_narrative_set(case=case, actor=world.officer, narrative="Nine deposits just under the threshold.")
    case = case_decide(case=case, actor=world.officer, decision="report", reason="Structuring")
    with pytest.raises(CaseRefused):  # not drafted yet
        case_sar_filing_record(case=case, actor=world.officer, filed_on=timezone.localdate(), reference="FIU-1")
    pdf = case_sar_pdf(case=case, actor=world.officer, context=case_sar_context(case=case))
    assert pdf.startswith(b"%PDF")
    with pytest.raises(ValidationFailed) as future:
        case_sar_filing_record(case=case, actor=world.officer, filed_on=timezone.localdate() + dt.timedelta(days=2),
                               reference="FIU-1")
    assert "filed_on" in future.value.fields
    case = case_sar_filing_record(case=case, actor=world.officer, filed_on=timezone.localdate(), reference="FIU-2026-77")
    case.refresh_from_db()
    assert (case.sar_filed_on, case.sar_reference) == (timezone.localdate(), "FIU-2026-77")
    assert case.sar_drafted_at is not None
    assert AuditLog.objects.filter(action="compliance.case_sar_drafted").count() == 1


def test_a_case_that_is_not_a_report_has_no_filing(world):
    case = reviewed(world)
    with pytest.raises(CaseRefused):
        case_sar_filing_record(case=case, actor=world.officer, filed_on=timezone.localdate(), reference="X")

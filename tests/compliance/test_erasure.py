# ruff: noqa: F811 - pytest fixtures imported from another conftest are redefined as test arguments
"""The erasure engine (issue 64, section 2): a client with nothing to hold is anonymised everywhere staff
look (client page, search, history); one with a deposit history keeps the transactions (held five years
after the relationship ends, the end date shown) but loses name and contacts; an open case or money in
the wallet blocks it with the reasons; the audit chain still verifies afterwards."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from compliance.erasure import DataKind, Treatment, erasure_apply, erasure_plan
from compliance.exceptions import ErasureRefused
from compliance.services import case_item_attach
from crm.audit import verify_chain
from crm.lib.errors import DomainError
from crm.models import AuditLog, Client, Event, Note, RoleCode
from crm.services import note_add
from leads.calls import call_log
from leads.models import Call
from tests.compliance.aml_support import deposit, withdrawal
from tests.factories import make_brand, make_client, make_user
from tests.portal.conftest import _portal_budgets, brand, eager_celery, http, ip, register  # noqa: F401 - fixtures
from wallet.models import LedgerTransaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    brand = make_brand()
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    client = make_client(brand=brand, owner=agent, first_name="Zenobia", last_name="Quartermaine",
                         email="zenobia.q@example.com", phone="+442071838750", country="GB")
    note_add(actor=agent, client=client, body="Zenobia said she moved to Lisbon, call her on Friday")
    call_log(actor=agent, client=client, outcome="connected", duration_seconds=60,
             notes="Zenobia asked about Lisbon branches")
    return client, agent, officer


def test_it_anonymises_a_client_with_nothing_to_hold(world, client):
    target, agent, officer = world
    plan = erasure_plan(target)
    assert not plan.blocked
    assert plan.relationship_end is None
    assert plan.item(DataKind.PROFILE).treatment == Treatment.ANONYMISED
    assert plan.item(DataKind.TRANSACTIONS).treatment == Treatment.ANONYMISED  # nothing to keep records of
    report = erasure_apply(client=target, actor=officer, plan=plan)

    target.refresh_from_db()
    assert target.full_name == report.name == f"Erased client {str(target.code)[:8]}"
    assert (target.email, target.phone, target.date_of_birth) == ("", "", None)
    client.force_login(agent)
    page = client.get(reverse("client_detail", args=[target.code])).content.decode()
    assert "Erased client" in page
    assert "Zenobia" not in page and "Quartermaine" not in page and "Lisbon" not in page
    timeline = client.get(reverse("client_detail", args=[target.code]) + "?tab=timeline").content.decode()
    assert "Erased client" in timeline
    assert "Zenobia" not in timeline and "Quartermaine" not in timeline and "Lisbon" not in timeline
    found = client.get(reverse("client_search"), {"q": "Quartermaine"}).content.decode()
    assert str(target.code) not in found  # no match: the name is gone
    assert str(target.code) in client.get(reverse("client_search"), {"q": "Erased"}).content.decode()
    history = list(Client.history.filter(id=target.pk).values_list("first_name", "last_name", "email"))
    assert len(history) >= 1
    assert all("Zenobia" not in f and "Quartermaine" not in last and not email for f, last, email in history)
    assert not Note.history.filter(client_id=target.pk, body__icontains="Lisbon").exists()
    assert not Call.objects.filter(client=target, notes__icontains="Lisbon").exists()
    assert not [e.data for e in Event.objects.filter(client=target) if "Lisbon" in str(e.data) or "Zenobia" in str(e.data)]
    row = AuditLog.objects.get(action="compliance.client_erased", object_id=str(target.code))
    assert "Zenobia" not in str(row.after) and "zenobia" not in str(row.after)


def test_it_keeps_transactions_of_a_client_with_a_deposit_history_but_erases_the_name(world, client, login_verified):
    target, _agent, officer = world
    last = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    deposit(target, "250.00", at=last - dt.timedelta(days=10))
    withdrawal(target, "250.00", at=last)
    plan = erasure_plan(target)
    assert not plan.blocked, plan.blockers
    assert plan.relationship_end == last
    held = plan.item(DataKind.TRANSACTIONS)
    assert held.treatment == Treatment.HELD
    assert held.hold is not None and held.hold.until == dt.date(2031, 3, 1)
    assert "5 years" in held.hold.basis
    assert plan.held(DataKind.KYC_DOCUMENTS)
    before = LedgerTransaction.objects.filter(legs__account__client=target).distinct().count()

    report = erasure_apply(client=target, actor=officer, plan=plan)

    target.refresh_from_db()
    assert "Zenobia" not in target.full_name and target.email == ""
    assert LedgerTransaction.objects.filter(legs__account__client=target).distinct().count() == before == 2
    assert report.held[DataKind.TRANSACTIONS] == "2031-03-01"
    login_verified(client, officer)
    tab = client.get(reverse("client_detail", args=[target.code]) + "?tab=compliance").content.decode()
    assert "Personal data erased on" in tab
    assert "Transactions and ledger · held until 2031-03-01" in tab
    assert "Zenobia" not in tab


def test_it_blocks_a_client_with_an_open_case_or_a_balance_with_the_reasons(world):
    target, _agent, officer = world
    deposit(target, "80.00")
    case_item_attach(client=target, kind="aml_alert", ref_id="erasure-1", summary="large deposit", score=70)
    plan = erasure_plan(target)
    assert plan.blocked
    reasons = " ".join(plan.blockers)
    assert "case" in reasons and "80.00" in reasons and "USD" in reasons
    with pytest.raises(ErasureRefused):
        erasure_apply(client=target, actor=officer, plan=plan)
    target.refresh_from_db()
    assert target.first_name == "Zenobia"


def test_the_audit_chain_still_verifies_after_an_erasure(world):
    target, _agent, officer = world
    assert verify_chain().ok
    erasure_apply(client=target, actor=officer, plan=erasure_plan(target))
    report = verify_chain()
    assert report.ok, report.problem


def test_only_officers_who_work_data_requests_and_see_the_client_may_erase(world):
    from crm.exceptions import NotAllowed

    target, agent, _officer = world
    with pytest.raises(NotAllowed):
        erasure_apply(client=target, actor=agent, plan=erasure_plan(target))
    elsewhere = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand())
    with pytest.raises(NotAllowed):
        erasure_apply(client=target, actor=elsewhere, plan=erasure_plan(target))
    target.refresh_from_db()
    assert target.first_name == "Zenobia"


def _kyc_rejected(client):
    from kyc.services import submission_checks_record, submission_create
    from tests.kyc.conftest import documents, report

    submission = submission_create(client=client, documents=documents(str(client.pk)))
    submission_checks_record(submission=submission, report=report(decision="reject"))


@pytest.fixture
def kyc_files(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    return tmp_path / "kyc-private"


def _stored_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_it_deletes_the_kyc_files_of_a_client_with_nothing_to_hold(world, kyc_files, django_capture_on_commit_callbacks):
    from kyc.selectors import documents_for_client

    target, _agent, officer = world
    _kyc_rejected(target)
    assert documents_for_client(client=target).count() == 2 and _stored_files(kyc_files)
    plan = erasure_plan(target)
    assert plan.item(DataKind.KYC_DOCUMENTS).treatment == Treatment.ERASED
    with django_capture_on_commit_callbacks(execute=True):
        report = erasure_apply(client=target, actor=officer, plan=plan)
    assert report.counts[DataKind.KYC_DOCUMENTS] == 2
    assert documents_for_client(client=target).count() == 0
    assert not [p for p in _stored_files(kyc_files) if not p.name.endswith(".key")]


def test_retention_removes_only_what_passed_its_time_reports_it_and_a_second_run_removes_nothing(kyc_files):
    import time_machine

    from compliance.retention import retention_preview, retention_run
    from compliance.retention_models import RetentionKind
    from kyc.selectors import documents_for_client

    brand = make_brand()
    now = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
    with time_machine.travel(now - dt.timedelta(days=800), tick=False):
        old_lead = make_client(brand=brand, first_name="Oldlead", last_name="Faraway", email="old@example.com")
    with time_machine.travel(now - dt.timedelta(days=300), tick=False):
        new_lead = make_client(brand=brand, first_name="Newlead", last_name="Nearby")
    with time_machine.travel(now - dt.timedelta(days=6 * 365), tick=False):
        old_applicant = make_client(brand=brand, stage="registered", first_name="Oldapplicant")
        _kyc_rejected(old_applicant)
    with time_machine.travel(now - dt.timedelta(days=365), tick=False):
        new_applicant = make_client(brand=brand, stage="registered", first_name="Newapplicant")
        _kyc_rejected(new_applicant)

    with time_machine.travel(now, tick=False):
        preview = retention_preview()
        assert preview[RetentionKind.LEADS_NEVER_CONVERTED] == 1
        assert preview[RetentionKind.KYC_REJECTED] == 1
        assert documents_for_client(client=old_applicant).count() == 2  # a preview changes nothing

        run = retention_run()
        assert run.results[RetentionKind.LEADS_NEVER_CONVERTED] == {"found": 1, "removed": 1}
        assert run.results[RetentionKind.KYC_REJECTED] == {"found": 1, "removed": 2}  # two documents
        for c in (old_lead, new_lead, old_applicant, new_applicant):
            c.refresh_from_db()
        assert old_lead.first_name.startswith("Erased client") and old_lead.email == ""
        assert new_lead.first_name == "Newlead"
        assert documents_for_client(client=old_applicant).count() == 0
        assert documents_for_client(client=new_applicant).count() == 2

        second = retention_run()
        assert second.removed == 0
        assert all(r == {"found": 0, "removed": 0} for r in second.results.values())


def test_beat_runs_the_retention_schedule_daily(settings):
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "compliance.tasks.retention_run_daily"]
    assert len(entries) == 1
    assert entries[0]["schedule"].hour == {3}


def test_the_retention_page_shows_the_schedule_the_next_run_and_the_runs(client, login_verified):
    import time_machine

    from compliance.retention import retention_run

    brand = make_brand()
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    with time_machine.travel(dt.datetime(2020, 1, 1, 9, tzinfo=dt.UTC), tick=False):
        make_client(brand=brand, first_name="Stalelead")
    login_verified(client, officer)
    page = client.get(reverse("compliance_retention")).content.decode()
    assert "Leads never converted" in page and "730 days" in page
    assert 'data-due="1"' in page  # the dry run: one lead would go
    assert "No run yet." in page
    retention_run()
    page = client.get(reverse("compliance_retention")).content.decode()
    assert 'data-due="0"' in page and "leads_never_converted</span> 1 / 1" in page
    assert "Change a rule for every brand" not in page  # an officer of one brand keeps the brands' common rules


def test_an_administrator_changes_a_rule_for_every_brand_and_others_may_not(client, login_verified):
    admin = make_user(role_code=RoleCode.ADMIN)
    agent = make_user(role_code=RoleCode.SALES_AGENT)
    data = {"kind": "leads_never_converted", "keep_days": "365", "basis": "Brand policy: one year."}
    client.force_login(agent)
    assert client.get(reverse("compliance_retention")).status_code in (403, 404)
    assert client.post(reverse("compliance_retention_rule"), data).status_code in (403, 404)
    login_verified(client, admin)
    assert client.post(reverse("compliance_retention_rule"), {**data, "keep_days": "0"}).status_code == 400
    response = client.post(reverse("compliance_retention_rule"), data)
    assert response.status_code == 302
    page = client.get(reverse("compliance_retention")).content.decode()
    assert "365 days" in page and "Brand policy: one year." in page


def test_support_tickets_lose_the_requester_and_text_in_an_erasure_and_closed_ones_after_six_years():
    import time_machine

    from compliance.retention import retention_run
    from compliance.retention_models import RetentionKind
    from support.models import Ticket, TicketMessage
    from support.services import ticket_close, ticket_set_status
    from tests.support.desk_world import build_desk_world, open_ticket

    w = build_desk_world()
    now = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
    other = make_client(brand=w.brand, stage="registered", first_name="Ticketholder", email="th@example.com")
    with time_machine.travel(now - dt.timedelta(days=7 * 365), tick=False):
        old = open_ticket(w, client=other, subject="Old question about my card")
        ticket_set_status(ticket=old, status="resolved", actor=w.agent)
        ticket_close(ticket=old, actor=None)
    with time_machine.travel(now - dt.timedelta(days=365), tick=False):
        recent = open_ticket(w, client=other, subject="Recent question")
        ticket_set_status(ticket=recent, status="resolved", actor=w.agent)
        ticket_close(ticket=recent, actor=None)
    mine = open_ticket(w, subject="Laura's withdrawal")

    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=w.brand)
    report = erasure_apply(client=w.client, actor=officer, plan=erasure_plan(w.client))
    assert report.counts[DataKind.TICKETS] == 1
    mine.refresh_from_db()
    assert (mine.subject, mine.requester_name, mine.requester_email) == ("[erased]", "", "")
    assert not TicketMessage.objects.filter(ticket=mine).exclude(body_text="[erased]").exists()

    with time_machine.travel(now, tick=False):
        run = retention_run()
        assert run.results[RetentionKind.CLOSED_TICKETS] == {"found": 1, "removed": 1}
        assert Ticket.objects.get(pk=old.pk).subject == "[erased]"
        assert Ticket.objects.get(pk=recent.pk).subject == "Recent question"
        assert retention_run().results[RetentionKind.CLOSED_TICKETS] == {"found": 0, "removed": 0}


def test_an_officer_sees_the_plan_with_its_end_dates_and_approves_the_erasure_request(world, client, login_verified):
    from compliance.services import data_request_submit

    target, _agent, officer = world
    deposit(target, "40.00", at=dt.datetime(2025, 5, 1, 10, tzinfo=dt.UTC))
    withdrawal(target, "40.00", at=dt.datetime(2025, 5, 2, 10, tzinfo=dt.UTC))
    request = data_request_submit(client=target, kind="erasure")
    login_verified(client, officer)
    page = client.get(reverse("compliance_data_request", args=[request.code])).content.decode()
    assert 'data-plan-item="transactions"' in page and "5 years" in page
    assert "02/05/2030" in page or "2030-05-02" in page or "2 May 2030" in page  # the hold's end date
    response = client.post(reverse("compliance_data_request_action", args=[request.code, "erase"]))
    assert response.status_code in (200, 302)
    target.refresh_from_db()
    assert target.full_name.startswith("Erased client")
    request.refresh_from_db()
    assert request.status == "fulfilled"
    assert request.outcome["held"]["transactions"] == "2030-05-02"


def test_marketing_consents_go_two_years_after_the_relationship_ended_and_not_before():
    import time_machine

    from compliance.retention import retention_run
    from compliance.retention_models import RetentionKind
    from marketing.consent import consent_history, consent_record

    brand = make_brand()
    now = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
    with time_machine.travel(now - dt.timedelta(days=4 * 365), tick=False):
        gone = make_client(brand=brand, stage="registered", first_name="Gone")
        consent_record(client=gone, channel="email", given=True, source="portal")
    with time_machine.travel(now - dt.timedelta(days=3 * 365), tick=False):
        gone = client_reach_closed(gone)
    with time_machine.travel(now - dt.timedelta(days=365), tick=False):
        recent = make_client(brand=brand, stage="registered", first_name="Recent")
        consent_record(client=recent, channel="email", given=True, source="portal")
        recent = client_reach_closed(recent)
    staying = make_client(brand=brand, stage="registered", first_name="Staying")
    consent_record(client=staying, channel="email", given=True, source="portal")

    with time_machine.travel(now, tick=False):
        run = retention_run()
    assert run.results[RetentionKind.MARKETING_CONSENTS] == {"found": 1, "removed": 1}
    assert consent_history(client=gone) == []
    assert len(consent_history(client=recent)) == 1 and len(consent_history(client=staying)) == 1


def client_reach_closed(client):
    from crm.services import client_stage_change

    return client_stage_change(actor=None, client=client, stage="closed", reason="relationship ended")


def test_the_erased_client_can_no_longer_sign_in_to_the_traders_room(brand, register):
    from crm.lib.fieldcrypt import keyed_hash
    from portal.models import ClientLogin
    from portal.services import portal_login_check
    from tests.portal.conftest import PASSWORD

    response = register(brand, email="ines.erased@example.com")
    assert response.status_code == 302, response.content.decode()[:500]
    login = ClientLogin.objects.get(email_hash=keyed_hash("ines.erased@example.com", kind="email"))
    target = login.client
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    report = erasure_apply(client=target, actor=officer, plan=erasure_plan(target))
    assert report.counts[DataKind.PORTAL_LOGIN] == 1
    assert not ClientLogin.objects.filter(client=target).exists()
    with pytest.raises(DomainError):
        portal_login_check(brand=brand, email="ines.erased@example.com", password=PASSWORD, ip=None)


def test_the_clients_sms_lose_number_and_text_and_one_not_yet_sent_is_never_sent(world):
    from emails.services import sms_messages_anonymise  # noqa: F401 - the face erasure calls
    from emails.sms import sms_provider_save, sms_send
    from emails.sms_models import SmsMessage

    target, _agent, officer = world
    sms_provider_save(actor=None, brand=target.brand, code="twilio-erasure", name="Twilio", account_sid="AC" + "0" * 32,
                      auth_token="token", from_number="+15005550006", base_url="http://127.0.0.1:9")
    sms_send(client=target, body="Zenobia, your Lisbon account is ready")
    erasure_apply(client=target, actor=officer, plan=erasure_plan(target))

    message = SmsMessage.objects.get(client=target)
    assert message.to_number == "" and "Lisbon" not in message.body and "Zenobia" not in message.body
    assert message.status == "failed"  # written, never sent: not sent to nobody later

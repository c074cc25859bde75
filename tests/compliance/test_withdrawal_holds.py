"""Compliance holds withdrawals (issue 60, section 3): an open AML alert, an open case, a high risk band
or a restriction in force holds a client's withdrawal. It is never approved automatically nor by
finance while held; finance's queue shows the kind of each hold, its reason and link only to who may
read them; the client reads "Under review", never why; when compliance closes what held it, finance
approves."""
# ruff: noqa: F811 - pytest fixtures imported from the portal's conftest are redefined as arguments

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from compliance.aml import aml_alert_mark_in_case, aml_evaluate, aml_rule_create
from compliance.cases import case_decide, case_item_attach, case_review_start
from compliance.jurisdictions import jurisdiction_set
from compliance.models import AmlAlert, AmlRuleKind, CaseItemKind
from compliance.restrictions import impose_restriction, lift_restriction
from compliance.risk import risk_score_compute
from crm.exceptions import Conflict
from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money
from crm.models import AuditLog, RoleCode
from portal.models import ClientLogin
from portal.services import portal_email_verify, verification_token
from tests.factories import make_user
from tests.portal.conftest import (  # noqa: F401 - fixtures
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    sign_in,
)
from tests.wallet.withdrawal_support import CARD, build_world
from wallet.models import Withdrawal, WithdrawalState
from wallet.selectors import withdrawal_flags, withdrawal_holds
from wallet.services import withdrawal_approve, withdrawal_policy_save, withdrawal_request

S = WithdrawalState


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(brand, register, http):
    """A client registered in the trader's room, verified and funded (1,000 USD by card), signed in; a
    brand whose policy approves withdrawals up to 5,000 USD automatically; finance, a compliance officer
    and an administrator."""
    response = register(brand, email="nadia.hassan@example.com")
    assert response.status_code == 302, response.content.decode()[:1000]
    login = ClientLogin.objects.get(email_hash=keyed_hash("nadia.hassan@example.com", kind="email"))
    portal_email_verify(token=verification_token(login))
    world = build_world(brand=brand, client=login.client)
    world.officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Olga Officer")
    world.admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
    withdrawal_policy_save(brand=brand, actor=None, auto_approve_below={"USD": "5000"})
    assert sign_in(http, brand).status_code == 302
    return world


def _raise_alert(world) -> AmlAlert:
    """A large-transaction rule over the client's 1,000 USD deposit, evaluated as the periodic pass does."""
    aml_rule_create(brand=world.brand, kind=AmlRuleKind.LARGE_TRANSACTION, name="Large deposit",
                    parameters={"amounts": {"USD": "500"}, "direction": "deposit"}, actor=world.officer,
                    effective_from=timezone.now() - dt.timedelta(days=1))
    report = aml_evaluate(since=timezone.now() - dt.timedelta(hours=1),
                          until=timezone.now() + dt.timedelta(seconds=1), brand_id=world.brand.pk)
    [alert] = AmlAlert.objects.filter(pk__in=report.raised)
    return alert


def _into_case(alert: AmlAlert):
    """The alert taken into its client's case, as compliance's event handler does."""
    case = case_item_attach(client=alert.client_id, kind=CaseItemKind.AML_ALERT, ref_id=alert.pk,
                            summary=alert.summary, score=alert.score).case
    aml_alert_mark_in_case(alert_id=alert.pk, case_ref=str(case.code))
    return case


def _close(case, officer) -> None:
    """The officer reviews the case and closes it with no action."""
    case_review_start(case=case, actor=officer)
    case.refresh_from_db()
    case_decide(case=case, actor=officer, decision="no_action", reason="Reviewed; explained by the payslips.")


def _staff(login_verified, user) -> HttpClient:
    browser = HttpClient()
    login_verified(browser, user)
    return browser


def _request_in_the_room(world, http) -> Withdrawal:
    response = http.post(reverse("portal:withdraw"), {"currency": "USD", "amount": "250",
                                                      "method": str(world.card.code), "destination": "4242424242424242"})
    assert response.status_code == 302
    return Withdrawal.objects.get(client=world.client)


def test_an_aml_alert_holds_the_withdrawal_until_compliance_dismisses_it_then_finance_approves(
        world, http, login_verified):
    alert = _raise_alert(world)
    w = _request_in_the_room(world, http)
    # Under the automatic threshold, verified: it would have gone at once; held, it waits for finance.
    assert w.state == S.REQUESTED and not w.auto_approved
    held = AuditLog.objects.get(action="wallet.withdrawal_held")
    assert held.after == {"holds": ["aml_alert"]}

    # The client reads "Under review", nothing of the alert.
    room = http.get(reverse("portal:withdraw")).content.decode()
    assert "Under review" in room
    assert "Large deposit" not in room and alert.summary not in room and "AML" not in room

    # Finance sees the kind and "Under compliance review", not the alert, and no link to it.
    finance = _staff(login_verified, world.finance)
    queue = finance.get(reverse("wallet_withdrawal_queue")).content.decode()
    link = reverse("compliance_aml_alert", args=[alert.code])
    assert 'data-flag="aml_alert"' in queue and "AML alert" in queue and "Under compliance review" in queue
    assert alert.summary not in queue and link not in queue
    # An administrator, who may read alerts, sees the reason and follows the link.
    admin = _staff(login_verified, world.admin)
    queue = admin.get(reverse("wallet_withdrawal_queue")).content.decode()
    assert "Large deposit" in queue and link in queue
    assert admin.get(link).status_code == 200

    # Finance cannot approve it while held: the queue says why in the words finance may read.
    finance.post(reverse("wallet_withdrawal_approve", args=[w.code]))
    w.refresh_from_db()
    assert w.state == S.REQUESTED and w.first_approved_by is None
    with pytest.raises(Conflict) as refused:
        withdrawal_approve(withdrawal=w, actor=world.finance)
    assert refused.value.code == "withdrawal_held"

    # Compliance closes the alert; the hold lifts at once and finance approves.
    officer = _staff(login_verified, world.officer)
    response = officer.post(reverse("compliance_aml_alert_dismiss", args=[alert.code]),
                            {"reason": "Salary paid in; source of funds on file."})
    assert response.status_code == 302
    queue = finance.get(reverse("wallet_withdrawal_queue")).content.decode()
    assert 'data-flag="aml_alert"' not in queue
    finance.post(reverse("wallet_withdrawal_approve", args=[w.code]))
    w.refresh_from_db()
    assert w.state == S.APPROVED and w.first_approved_by == world.finance
    assert "Under review" not in http.get(reverse("portal:withdraw")).content.decode()


def test_an_alert_taken_into_a_case_holds_until_the_case_is_closed(world):
    alert = _raise_alert(world)
    case = _into_case(alert)
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    assert w.state == S.REQUESTED
    assert [f.kind for f in withdrawal_holds(withdrawal=w)] == ["compliance_case"]
    _close(case, world.officer)
    assert withdrawal_holds(withdrawal=w) == []
    assert withdrawal_approve(withdrawal=w, actor=world.finance).state == S.APPROVED


def test_a_restriction_holds_and_finance_may_read_its_reason_as_it_may_see_restrictions(world, login_verified):
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    assert w.state == S.APPROVED and w.auto_approved  # nothing held it: approved at once
    [restriction] = impose_restriction(client=world.client, kinds=["no_trading"], reason="Latency arbitrage review",
                                       by=world.officer)
    second = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    assert second.state == S.REQUESTED
    queue = _staff(login_verified, world.finance).get(reverse("wallet_withdrawal_queue")).content.decode()
    assert 'data-flag="restriction"' in queue and "Latency arbitrage review" in queue
    lift_restriction(restriction=restriction, reason="Review done", by=world.officer)
    assert withdrawal_approve(withdrawal=second, actor=world.finance).state == S.APPROVED


def test_a_high_risk_band_holds_until_a_case_about_the_client_is_closed_after_it(world):
    jurisdiction_set(brand=world.brand, country="GB", status="sanctioned", by=world.officer)
    score = risk_score_compute(client_id=world.client.pk, trigger="test")
    assert score is not None and score.band == "high"
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    assert w.state == S.REQUESTED and "risk_band" in [f.kind for f in withdrawal_holds(withdrawal=w)]
    # An officer reviews the client in a case and closes it: the band no longer holds.
    case = _into_case(_raise_alert(world))
    _close(case, world.officer)
    assert withdrawal_holds(withdrawal=w) == []


def test_four_eyes_a_hold_raised_after_the_first_approval_stops_the_second(world):
    withdrawal_policy_save(brand=world.brand, actor=None, four_eyes_above={"USD": "50"})
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    withdrawal_approve(withdrawal=w, actor=world.finance)
    w.refresh_from_db()
    assert w.first_approved_by == world.finance and w.state == S.REQUESTED
    _raise_alert(world)
    with pytest.raises(Conflict):
        withdrawal_approve(withdrawal=w, actor=world.finance2)
    w.refresh_from_db()
    assert w.state == S.REQUESTED and w.second_approved_by is None


def test_a_decision_reads_only_what_was_known_at_its_time(world):
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card,
                           destination=CARD)
    alert = _raise_alert(world)
    # Just before the alert was recorded, nothing was known of it: nothing flags the withdrawal then.
    assert withdrawal_flags(withdrawal=w, at=alert.created_at - dt.timedelta(microseconds=1)) == []
    assert [f.kind for f in withdrawal_flags(withdrawal=w)] == ["aml_alert"]

"""Restrictions on a client, each through the path the client takes: a deposit refused, a withdrawal
refused with its neutral explanation, a trader's-room sign-in refused; lifting restores each; an end
date is respected; a jurisdiction that became sanctioned restricts the client at their next sign-in;
only compliance roles impose and lift (pages and API)."""
# ruff: noqa: F811 - pytest fixtures imported from the portal's conftest are redefined as arguments

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.models import Restriction, RestrictionKind
from compliance.selectors import restriction_in_force, restrictions_open
from compliance.services import impose_restriction, jurisdiction_set, lift_restriction, restrictions_expire
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money
from crm.models import AuditLog, Event, Notification, RoleCode
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
from wallet.exceptions import WithdrawalBlocked
from wallet.models import Withdrawal
from wallet.services import deposit_create, withdrawal_request

NEUTRAL_WITHDRAWAL = "Withdrawals are not available on your account at the moment. Please contact support."
NEUTRAL_DEPOSIT = "Deposits are not available on your account at the moment. Please contact support."
NEUTRAL_LOGIN = "We cannot sign you in at the moment. Please contact support."


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(brand, register, http):
    response = register(brand, email="nadia.hassan@example.com")
    assert response.status_code == 302, response.content.decode()[:1000]
    login = ClientLogin.objects.get(email_hash=keyed_hash("nadia.hassan@example.com", kind="email"))
    portal_email_verify(token=verification_token(login))
    world = build_world(brand=brand, client=login.client)
    world.officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Officer One")
    world.officer2 = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Officer Two")
    world.login = login
    return world


def test_no_withdrawals_refuses_the_request_with_a_neutral_explanation_and_lifting_restores_it(world, http):
    [row] = impose_restriction(client=world.client, kinds=["no_withdrawal"], reason="Source of funds review",
                               by=world.officer)
    assert sign_in(http, world.brand).status_code == 302
    response = http.post(reverse("portal:withdraw"), {"currency": "USD", "amount": "100",
                                                      "method": str(world.card.code), "destination": "4242424242424242"})
    page = response.content.decode()
    assert response.status_code == 400 and 'data-code="restricted"' in page and NEUTRAL_WITHDRAWAL in page
    assert "Source of funds" not in page and "compliance" not in page.lower()
    assert not Withdrawal.objects.filter(client=world.client).exists()
    with pytest.raises(WithdrawalBlocked) as blocked:
        withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    assert blocked.value.message == NEUTRAL_WITHDRAWAL

    lift_restriction(restriction=row, reason="Documents received and checked", by=world.officer2)
    response = http.post(reverse("portal:withdraw"), {"currency": "USD", "amount": "100",
                                                      "method": str(world.card.code), "destination": "4242424242424242"})
    assert response.status_code == 302
    assert Withdrawal.objects.filter(client=world.client).count() == 1
    row.refresh_from_db()
    assert (row.lifted_by, row.lift_reason) == (world.officer2, "Documents received and checked")
    audit = AuditLog.objects.get(action="compliance.restriction_lifted")
    assert audit.actor == world.officer2 and audit.reason == "Documents received and checked"
    assert Event.objects.filter(name="compliance.restriction_lifted", client=world.client).count() == 1


def test_no_deposits_refuses_a_deposit_and_the_page_says_so(world, http):
    [row] = impose_restriction(client=world.client, kinds=["no_deposit"], reason="Under review", by=world.officer)
    with pytest.raises(ValidationFailed) as refused:
        deposit_create(client=world.client, amount=Money("100", "USD"), method="card")
    assert refused.value.message == NEUTRAL_DEPOSIT and refused.value.fields["amount"] == [NEUTRAL_DEPOSIT]
    assert sign_in(http, world.brand).status_code == 302
    page = http.get(reverse("portal:wallet_deposit_new")).content.decode()
    assert 'id="deposit-refused"' in page and NEUTRAL_DEPOSIT in page

    lift_restriction(restriction=row, reason="Cleared", by=world.officer)
    page = http.get(reverse("portal:wallet_deposit_new")).content.decode()
    assert 'id="deposit-refused"' not in page
    with pytest.raises(ValidationFailed) as other:  # now refused for another reason: no deposit method here
        deposit_create(client=world.client, amount=Money("100", "USD"), method="card")
    assert other.value.message != NEUTRAL_DEPOSIT


def test_no_login_refuses_the_sign_in_neutrally_ends_open_sessions_and_lifting_lets_the_client_in(
        world, http, django_capture_on_commit_callbacks):
    assert sign_in(http, world.brand).status_code == 302
    assert http.get(reverse("portal:home")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        [row] = impose_restriction(client=world.client, kinds=["no_login"], reason="Account under investigation",
                                   by=world.officer)
    from crm.events import dispatch_pending

    dispatch_pending()
    assert http.get(reverse("portal:home")).status_code == 302  # the open session was ended
    response = sign_in(http, world.brand)
    page = response.content.decode()
    assert response.status_code == 400 and NEUTRAL_LOGIN in page and "investigation" not in page
    assert AuditLog.objects.filter(action="portal.login_refused", object_id=str(world.client.code)).exists()

    lift_restriction(restriction=row, reason="Investigation closed", by=world.officer)
    assert sign_in(http, world.brand).status_code == 302


def test_a_restriction_ends_on_its_date(world, http, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    until = timezone.now() + dt.timedelta(hours=2)
    [row] = impose_restriction(client=world.client, kinds=["no_login"], reason="Cooling off", by=world.officer,
                               until=until)
    assert sign_in(http, world.brand).status_code == 400
    time_machine.shift(dt.timedelta(hours=3))
    assert restriction_in_force(client=world.client, kind="no_login") is None
    assert sign_in(http, world.brand).status_code == 302  # expired: no longer blocks, even before the sweep
    assert restrictions_expire() == 1
    row.refresh_from_db()
    assert row.lifted_at is not None and row.lift_reason == "expired" and row.lifted_by is None
    assert restrictions_expire() == 0


def test_a_past_end_date_and_an_empty_reason_are_refused(world):
    with pytest.raises(ValidationFailed) as refused:
        impose_restriction(client=world.client, kinds=["no_login", "no_flying"], reason=" ", by=world.officer,
                           until=timezone.now() - dt.timedelta(minutes=1))
    assert set(refused.value.fields) == {"kinds", "reason", "until"}
    [row] = impose_restriction(client=world.client, kinds=["no_login"], reason="x", by=world.officer)
    with pytest.raises(ValidationFailed) as no_reason:
        lift_restriction(restriction=row, reason="", by=world.officer)
    assert "reason" in no_reason.value.fields
    assert not Restriction.objects.filter(lifted_at__isnull=False).exists()


def test_imposing_a_kind_in_force_keeps_the_one_there(world):
    [first] = impose_restriction(client=world.client, kinds=["no_deposit"], reason="first", by=world.officer)
    rows = impose_restriction(client=world.client, kinds=["no_deposit", "no_withdrawal"], reason="second",
                              by=world.officer2)
    assert rows[0].pk == first.pk and rows[0].reason == "first"
    assert {r.kind for r in restrictions_open(client=world.client)} == {"no_deposit", "no_withdrawal"}
    assert AuditLog.objects.filter(action="compliance.restriction_imposed").count() == 2


def test_a_newly_sanctioned_country_restricts_the_client_at_their_next_sign_in(world, http):
    # Set without the job running after commit: the sign-in itself applies it.
    jurisdiction_set(brand=world.brand, country="GB", status="sanctioned", by=world.officer)
    assert restrictions_open(client=world.client) == []
    assert sign_in(http, world.brand).status_code == 302  # signing in is not one of the kinds restricted
    assert {r.kind for r in restrictions_open(client=world.client)} == {"no_deposit", "no_withdrawal", "no_trading"}
    note = Notification.objects.get(user=world.officer, kind="compliance.jurisdiction_restricted")
    assert str(world.client.code) in note.body
    response = http.post(reverse("portal:withdraw"), {"currency": "USD", "amount": "100",
                                                      "method": str(world.card.code), "destination": "4242424242424242"})
    assert response.status_code == 400 and NEUTRAL_WITHDRAWAL in response.content.decode()


def test_a_registration_from_a_sanctioned_country_is_refused_neutrally(brand, register):
    jurisdiction_set(brand=brand, country="AE", status="sanctioned", by=None)
    response = register(brand, email="khalid@example.com", country="AE", phone="+971501234567")
    page = response.content.decode()
    assert response.status_code == 400
    assert "We cannot open an account for you at the moment" in page and "sanction" not in page.lower()
    assert not ClientLogin.objects.filter(email_hash=keyed_hash("khalid@example.com", kind="email")).exists()


# --- who may impose and lift ------------------------------------------------------------------------------

def test_only_compliance_roles_impose_and_lift(world, client, login_verified):
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=world.brand)
    finance = make_user(role_code=RoleCode.FINANCE, brand=world.brand)
    with pytest.raises(NotAllowed):
        impose_restriction(client=world.client, kinds=["no_login"], reason="x", by=agent)
    [row] = impose_restriction(client=world.client, kinds=["no_login"], reason="x", by=world.officer)
    with pytest.raises(NotAllowed):
        lift_restriction(restriction=row, reason="no", by=finance)

    login_verified(client, finance)
    tab = client.get(reverse("client_detail", args=[world.client.code]) + "?tab=compliance")
    assert tab.status_code == 200 and f'data-restriction="{row.code}"' in tab.content.decode()
    assert 'id="restriction-impose"' not in tab.content.decode()  # finance sees, does not act
    assert client.post(reverse("compliance_restriction_lift", args=[row.code]), {"reason": "r"}).status_code == 404
    assert client.post(reverse("compliance_restriction_impose", args=[world.client.code]),
                       {"kinds": ["no_deposit"], "reason": "r"}).status_code == 404
    row.refresh_from_db()
    assert row.lifted_at is None and restriction_in_force(client=world.client, kind="no_deposit") is None


def test_the_officer_imposes_and_lifts_from_the_compliance_tab(world, client, login_verified):
    login_verified(client, world.officer)
    url = reverse("client_detail", args=[world.client.code]) + "?tab=compliance"
    tab = client.get(url).content.decode()
    assert 'id="restriction-impose"' in tab and 'id="client-jurisdiction"' in tab
    response = client.post(reverse("compliance_restriction_impose", args=[world.client.code]),
                           {"kinds": ["no_deposit", "no_withdrawal"], "reason": "Adverse media"})
    assert response.status_code == 302
    rows = restrictions_open(client=world.client)
    assert {r.kind for r in rows} == {"no_deposit", "no_withdrawal"}
    assert all(r.imposed_by == world.officer and r.reason == "Adverse media" for r in rows)
    row = next(r for r in rows if r.kind == RestrictionKind.DEPOSIT)
    assert client.post(reverse("compliance_restriction_lift", args=[row.code]), {"reason": "Cleared"}).status_code == 302
    assert {r.kind for r in restrictions_open(client=world.client)} == {"no_withdrawal"}


def test_an_officer_of_another_brand_finds_no_restriction(world, client, login_verified):
    outsider = make_user(role_code=RoleCode.COMPLIANCE, brand=build_world(fund=None, approve_kyc=False).brand)
    [row] = impose_restriction(client=world.client, kinds=["no_login"], reason="x", by=world.officer)
    login_verified(client, outsider)
    assert client.post(reverse("compliance_restriction_lift", args=[row.code]), {"reason": "r"}).status_code == 404
    assert client.post(reverse("compliance_restriction_impose", args=[world.client.code]),
                       {"kinds": ["no_deposit"], "reason": "r"}).status_code == 404
    row.refresh_from_db()
    assert row.lifted_at is None


def test_the_staff_api_imposes_lists_and_lifts(world, client, login_verified):
    login_verified(client, world.officer)
    base = f"/api/v1/compliance/clients/{world.client.code}/restrictions"
    response = client.post(base, json.dumps({"kinds": ["no_trading"], "reason": "API test"}),
                           content_type="application/json")
    assert response.status_code == 201, response.content
    [made] = response.json()
    assert made["kind"] == "no_trading" and made["in_force"] and made["imposed_by"] == "Officer One"
    assert [r["code"] for r in client.get(base).json()] == [made["code"]]
    bad = client.post(f"/api/v1/compliance/restrictions/{made['code']}/lift", json.dumps({"reason": ""}),
                      content_type="application/json")
    assert bad.status_code == 422 and "reason" in bad.json()["fields"]
    lifted = client.post(f"/api/v1/compliance/restrictions/{made['code']}/lift", json.dumps({"reason": "done"}),
                         content_type="application/json")
    assert lifted.status_code == 200 and not lifted.json()["in_force"] and lifted.json()["lifted_by"] == "Officer One"
    jur = client.post("/api/v1/compliance/jurisdictions", json.dumps(
        {"brand": world.brand.code, "country": "KP", "status": "sanctioned"}), content_type="application/json")
    assert jur.status_code == 200 and jur.json()["in_effect"]
    listed = client.get(f"/api/v1/compliance/jurisdictions?brand={world.brand.code}").json()
    assert [(j["country"], j["status"]) for j in listed] == [("KP", "sanctioned")]

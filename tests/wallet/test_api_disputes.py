"""The disputes API (issue 60): a chargeback that reached the CRM through the provider's signed webhook
is read and worked by an integration exactly as finance works it on the dispute's page: evidence,
representment, the provider's outcome (the wallet debited on a loss), acceptance, the ratios; with the
API's one error shape for what is refused, and nothing of another brand's or without the permission."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.models import RoleCode
from tests.crm.api_support import API, KeyClient, assert_error, new_key, session_client
from tests.factories import make_brand, make_user
from tests.wallet.test_disputes import PDF, World
from wallet.ledger import balance
from wallet.models import DepositStatus

D = Decimal


@pytest.fixture(autouse=True)
def _storage(settings, tmp_path):
    settings.WALLET_DISPUTE_STORAGE_DIR = tmp_path / "disputes"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc"


@pytest.fixture
def world(db, psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    return World(psp, hooks)


def _key(world, *scopes, brand=None):
    return KeyClient(new_key(brand or world.brand, scopes=list(scopes) or ["wallet:disputes"]))


def _attach(api, dispute_code, data, title="Signed terms and KYC"):
    upload = SimpleUploadedFile("evidence.bin", data, content_type="application/octet-stream")
    return api.http.post(f"{API}/disputes/{dispute_code}/evidence", {"title": title, "file": upload}, **api.headers)


def test_a_chargeback_is_worked_to_a_loss_through_the_api_and_the_wallet_pays_it(world):
    deposit = world.pay("100.00")
    dispute = world.charge_back(deposit)
    api = _key(world)

    listed = api.get("/disputes", {"status": "open"})
    assert listed.status_code == 200, listed.content
    [row] = listed.json()["items"]
    assert (row["code"], row["deposit"], row["client"]) == (str(dispute.code), str(deposit.code),
                                                            str(world.client.code))
    assert (row["kind"], row["status"], row["amount"], row["currency"]) == ("chargeback", "open", "100", "USD")
    assert row["overdue"] is False and row["due_at"] > row["received_at"]
    # The amount is held on the wallet while the case is open.
    assert balance(world.wallet()).amount == D("99.50")

    refused = _attach(api, dispute.code, b"MZ\x90\x00 not a document")
    assert "file" in assert_error(refused, 422)["fields"]
    assert_error(api.post(f"/disputes/{dispute.code}/representment", {"note": "Sent"}), 422)  # no evidence yet

    added = _attach(api, dispute.code, PDF)
    assert added.status_code == 201, added.content
    evidence = added.json()
    assert (evidence["content_type"], evidence["size"]) == ("application/pdf", len(PDF))
    file = api.get(f"/disputes/{dispute.code}/evidence/{evidence['code']}")
    assert file.status_code == 200 and file.content == PDF and file["Content-Type"] == "application/pdf"
    assert api.get(f"/disputes/{dispute.code}").json()["status"] == "evidence_gathering"

    represented = api.post(f"/disputes/{dispute.code}/representment", {"note": "KYC, terms and IP of the deposit"})
    assert represented.status_code == 200, represented.content
    assert represented.json()["status"] == "represented" and represented.json()["represented_at"]
    assert_error(api.post(f"/disputes/{dispute.code}/acceptance", {"reason": "too late"}), 409, "dispute_refused")
    assert "outcome" in assert_error(api.post(f"/disputes/{dispute.code}/outcome", {"outcome": "maybe"}), 422)["fields"]

    lost = api.post(f"/disputes/{dispute.code}/outcome", {"outcome": "lost", "note": "Issuer upheld it"})
    assert lost.status_code == 200, lost.content
    body = lost.json()
    assert (body["status"], body["outcome_note"]) == ("lost", "Issuer upheld it") and body["decided_at"]
    assert [s["action"] for s in body["steps"]] == ["opened", "evidence_added", "represented", "lost"]
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.CHARGED_BACK
    # The deposit's 0.50 fee first, then the rest: the wallet holds nothing of the deposit any more.
    assert balance(world.wallet()).amount == D("0.00")
    assert_error(api.post(f"/disputes/{dispute.code}/outcome", {"outcome": "won"}), 409, "dispute_refused")
    assert api.get("/disputes", {"status": "open"}).json()["items"] == []
    assert [r["status"] for r in api.get("/disputes", {"status": "lost"}).json()["items"]] == ["lost"]


def test_finance_accepts_a_dispute_through_a_session_and_reads_the_ratio(world, login_verified):
    deposit = world.pay("200.00")
    dispute = world.charge_back(deposit)
    http = session_client(world.finance, login_verified)

    accepted = http.post(f"{API}/disputes/{dispute.code}/acceptance", '{"reason": "Card reported stolen"}',
                         content_type="application/json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "accepted"
    assert balance(world.wallet()).amount == D("0.00")

    ratios = http.get(f"{API}/chargeback-ratios", {"months": 1})
    assert ratios.status_code == 200, ratios.content
    [row] = [r for r in ratios.json() if r["provider"] == "psp-sim"]
    assert (row["deposits"], row["chargebacks"], row["count_ratio"], row["amount_ratio"]) == (1, 1, "100", "100")
    assert_error(_key(world).get("/chargeback-ratios"), 403, "staff_only")


def test_what_the_api_refuses_and_whom_it_shows_nothing(world, login_verified):
    dispute = world.charge_back(world.pay("50.00"))
    path = f"/disputes/{dispute.code}"
    assert_error(_key(world, "wallet:read").get(path), 403, "missing_scope")
    assert_error(_key(world, brand=make_brand()).get(path), 404)
    sales = make_user(role_code=RoleCode.SALES_AGENT, brand=world.brand)
    assert_error(session_client(sales, login_verified).get(f"{API}{path}"), 404)
    api = _key(world)
    assert "status" in assert_error(api.get("/disputes", {"status": "pending"}), 422)["fields"]
    assert "kind" in assert_error(api.get("/disputes", {"kind": "fraud"}), 422)["fields"]
    assert "until" in assert_error(api.get("/disputes", {"since": "2026-05-02T00:00:00Z",
                                                         "until": "2026-05-01T00:00:00Z"}), 422)["fields"]
    assert api.get("/disputes", {"overdue": "true"}).json()["items"] == []
    assert [r["code"] for r in api.get("/disputes", {"overdue": "false"}).json()["items"]] == [str(dispute.code)]
    assert api.get("/disputes", {"provider": "someone-else"}).json()["items"] == []

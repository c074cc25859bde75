"""A client's verification status through the API: what an onboarding flow polls, scoped like the
rest of the API (the key's brand; staff who may see the client's KYC status)."""

from __future__ import annotations

import pytest

from crm.models import RoleCode
from tests.crm.api_support import API, KeyClient, assert_error, new_key, session_client
from tests.factories import make_brand, make_client, make_desk, make_user
from tests.wallet.withdrawal_support import kyc_approve

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


def test_a_clients_status_moves_from_unverified_to_approved(db):
    brand = make_brand()
    client = make_client(brand=brand, country="GB")
    api = KeyClient(new_key(brand, scopes=["kyc:read"]))
    before = api.get(f"/clients/{client.code}/kyc").json()
    assert before["status"] == "unverified" and before["open_submission"] is None and before["verified_at"] is None
    kyc_approve(client)
    after = api.get(f"/clients/{client.code}/kyc").json()
    assert after["status"] == "approved" and after["verified_at"].endswith("+00:00")


def test_the_status_is_404_for_another_brand_and_403_without_the_scope_and_follows_staff_scope(db):
    brand = make_brand()
    desk = make_desk(brand=brand)
    owner = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    stranger = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    client = make_client(actor=owner, brand=brand)
    path = f"/clients/{client.code}/kyc"
    assert_error(KeyClient(new_key(make_brand(), scopes=["kyc:read"])).get(path), 404, "not_found")
    assert_error(KeyClient(new_key(brand, scopes=["clients:read"])).get(path), 403, "missing_scope")
    assert session_client(owner).get(f"{API}{path}").json()["status"] == "unverified"
    assert_error(session_client(stranger).get(f"{API}{path}"), 404, "not_found")

"""The KYC vendor is handed a webhook address on CRM_PUBLIC_URL, whatever port the CRM runs on."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from kyc.services import kyc_policy_save, kyc_profile_save
from kyc.vendor_services import submission_checks_run
from tests.factories import make_client
from tests.kyc.conftest import submit
from tests.waiting import wait_until


@pytest.mark.django_db(transaction=True)
def test_the_vendor_is_given_the_configured_public_url_for_its_webhook(kyc_world, kycsim, settings):
    settings.CRM_PUBLIC_URL = "https://crm.broker.example:8622"  # recorded by the simulator, not posted to
    kycsim.faults({"type": "drop_webhooks"})
    kyc_policy_save(actor=kyc_world.admin, brand=kyc_world.brand, allowed_issuing_countries=[], poa_max_age_days=90,
                    expiry_warning_days=30, review_sla_hours=24, high_risk_countries=["IR"],
                    expiry_holds=["withdrawals"], vendor="kycsim")
    client = make_client(actor=kyc_world.agent, brand=kyc_world.brand, email=f"ada.{uuid.uuid4().hex[:6]}@example.com",
                         first_name="Ada", last_name="Port", country="GB", language="en", stage="registered")
    kyc_profile_save(client=client, actor=None, address_line1="1 High Street", city="London", postcode="SW1A 1AA",
                     country="GB")
    submission = submit(client)
    submission_checks_run(submission_id=submission.pk)
    submission.refresh_from_db()

    [hook] = wait_until(lambda: kycsim.webhooks(submission.vendor_ref), what="the vendor's decision")
    assert hook["url"] == "https://crm.broker.example:8622" + reverse("kyc_vendor_webhook", args=["kycsim"])

"""Fixtures of the appropriateness questionnaire: brands given the example questionnaire by the
seed command (kyc_questionnaire_seed), as the demo gets it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command

from tests.factories import make_brand, make_client, make_desk, make_user


def seed(brand: Any) -> Any:
    from kyc.models import QuestionnaireVersion

    call_command("kyc_questionnaire_seed", stdout=open("/dev/null", "w"))  # noqa: SIM115 - closed with the process
    return QuestionnaireVersion.objects.get(questionnaire__brand=brand, status="published")


@pytest.fixture
def quest(db: Any) -> SimpleNamespace:
    """A brand with the example questionnaire published (version 1), a compliance officer of the
    brand, the client's owner (a sales agent), an agent of another brand, and a client."""
    brand = make_brand()
    desk = make_desk(brand=brand)
    compliance = make_user(role_code="compliance", brand=brand)
    owner = make_user(role_code="sales_agent", desk=desk)
    outsider = make_user(role_code="sales_agent", desk=make_desk(brand=make_brand()))
    client = make_client(actor=owner, email="quest.client@example.com", stage="funded")
    return SimpleNamespace(brand=brand, compliance=compliance, owner=owner, outsider=outsider, client=client,
                           version=seed(brand))

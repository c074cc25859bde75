"""What KYC publishes for compliance's risk score and trail export: the latest questionnaire's answers
(occupation, source of funds, income, savings) and the documents of a brand or client in a period."""
# ruff: noqa: F811 - pytest fixtures imported from questionnaire_support are redefined as test arguments

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from kyc.questionnaire import questionnaire_submit
from kyc.questionnaire_demo import ANSWERS_APPROPRIATE, ANSWERS_WITH_WARNING
from kyc.selectors import documents_in_period, questionnaire_answers
from tests.factories import make_brand, make_client
from tests.kyc.questionnaire_support import quest  # noqa: F401 - fixture


def test_the_answers_are_those_of_the_latest_response_as_lists_of_option_codes(quest):
    assert questionnaire_answers(client=quest.client) == {}
    with time_machine.travel(timezone.now() - dt.timedelta(days=40)):
        questionnaire_submit(actor=None, client=quest.client, version=quest.version, answers=ANSWERS_APPROPRIATE)
    questionnaire_submit(actor=None, client=quest.client, version=quest.version,
                         answers={**ANSWERS_WITH_WARNING, "source_of_funds": "borrowed"})
    answers = questionnaire_answers(client=quest.client)
    assert answers["source_of_funds"] == ["borrowed"] and answers["annual_income"] == ["15k_50k"]
    assert answers["other_products"] == ["shares"]


@pytest.mark.django_db
def test_documents_in_a_period_are_the_brands_or_the_clients_only(settings, tmp_path):
    from kyc.services import submission_create
    from tests.kyc.conftest import documents

    settings.KYC_STORAGE_DIR = tmp_path / "kyc"
    brand = make_brand()
    one, two = make_client(brand=brand), make_client(brand=brand)
    other = make_client(brand=make_brand())
    for c in (one, two, other):
        submission_create(client=c, documents=documents(str(c.pk)))
    now = timezone.now()
    day = dt.timedelta(days=1)
    assert {d.client_id for d in documents_in_period(brand_id=brand.pk, start=now - day, end=now + day)} == {
        one.pk, two.pk}
    assert {d.client_id for d in documents_in_period(brand_id=brand.pk, client_id=one.pk, start=now - day,
                                                     end=now + day)} == {one.pk}
    assert not documents_in_period(brand_id=brand.pk, start=now + day, end=now + 2 * day).exists()

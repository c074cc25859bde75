"""The appropriateness questionnaire's services: answers scored into each level, the knock-out, bad
answers and bad content refused naming the question, published versions immutable, a new version
retiring the old one, the retake rule and the kyc.assessed event."""
# ruff: noqa: F811 - pytest fixtures imported from questionnaire_support are redefined as test arguments

from __future__ import annotations

import copy
import datetime as dt

import pytest
from django.core.management import call_command

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Event
from kyc.exceptions import KycError, QuestionnaireRetakeRefused
from kyc.models import QuestionnaireResponse, QuestionnaireVersion
from kyc.questionnaire import (
    content_clean,
    content_max_score,
    questionnaire_current_for,
    questionnaire_draft_save,
    questionnaire_latest_response,
    questionnaire_submit,
    questionnaire_version_publish,
)
from kyc.questionnaire_demo import (
    ANSWERS_APPROPRIATE,
    ANSWERS_NOT_APPROPRIATE,
    ANSWERS_WITH_WARNING,
    demo_content,
)
from tests.factories import make_client
from tests.kyc.questionnaire_support import quest  # noqa: F401 - fixture


def _submit(quest, answers, client=None, actor=None):
    return questionnaire_submit(actor=actor, client=client or quest.client, version=quest.version, answers=answers)


def _fresh(quest):
    return make_client(actor=quest.owner, stage="funded")


def test_answers_are_scored_into_each_level_with_its_leverage_limit_and_warnings(quest):
    assert content_max_score(quest.version.content) == 37
    cases = [(ANSWERS_APPROPRIATE, 26, "appropriate", None, ["high_risk"]),
             (ANSWERS_WITH_WARNING, 15, "appropriate_with_warning", 30, ["limited_experience", "high_risk"]),
             (ANSWERS_NOT_APPROPRIATE, 4, "not_appropriate", 10, ["not_appropriate", "high_risk"])]
    for answers, score, level, leverage, warnings in cases:
        response = _submit(quest, answers, client=_fresh(quest))
        assert (response.score, response.level, response.max_leverage, response.warnings) == (
            score, level, leverage, warnings)
        assert response.knocked_out_by == [] and response.submitted_by is None
    # A multiple-choice question adds every option chosen; a single answer may be given as text.
    assert response.answers["other_products"] == ["nothing"] and response.answers["leverage"] == ["dont_know"]


def test_a_knock_out_answer_is_not_appropriate_whatever_the_score(quest):
    best = {**ANSWERS_APPROPRIATE, "education": "finance_work", "annual_income": "over_100k",
            "loss_affordability": "no"}
    response = _submit(quest, best)
    assert response.score >= 25  # an appropriate score...
    assert response.level == "not_appropriate" and response.max_leverage == 10  # ...knocked out
    assert response.knocked_out_by == ["loss_affordability.no"]
    assert response.warnings == ["not_appropriate", "high_risk"]


def test_bad_answers_are_refused_naming_the_question_and_nothing_is_written(quest):
    answers = {**ANSWERS_APPROPRIATE, "stop_out": "maybe", "favourite_colour": "blue",
               "trade_frequency": ["never", "weekly"]}
    del answers["savings"]
    with pytest.raises(ValidationFailed) as refused:
        _submit(quest, answers)
    assert refused.value.fields == {
        "stop_out": ["Question stop_out has no option maybe."],
        "favourite_colour": ["There is no question favourite_colour in this questionnaire."],
        "trade_frequency": ["Choose one option."],
        "savings": ["Answer this question."],
    }
    assert not QuestionnaireResponse.objects.exists()
    assert not Event.objects.filter(name="kyc.assessed").exists()


def test_only_the_version_clients_answer_now_is_accepted(quest):
    draft = questionnaire_draft_save(actor=quest.compliance, brand=quest.brand, content=demo_content())
    with pytest.raises(ValidationFailed) as refused:
        questionnaire_submit(actor=None, client=quest.client, version=draft, answers=ANSWERS_APPROPRIATE)
    assert list(refused.value.fields) == ["version"]


def test_bad_content_is_refused_naming_the_question_option_or_band():
    content = demo_content()
    experience = content["sections"][0]["questions"]
    experience[0]["options"][1]["score"] = -2
    experience[1]["options"][0]["text"]["ar"] = ""
    experience[2]["kind"] = "ranking"
    content["sections"][1]["questions"][0]["options"][0]["code"] = "dont_know"  # twice now
    content["bands"][1]["min_score"] = 12  # overlaps 0-14
    content["bands"][2]["min_score"] = 27  # leaves 25-26 without a band
    content["bands"][2]["warnings"] = ["nope"]
    del content["sections"][2]["questions"][0]["text"]["ar"]
    with pytest.raises(ValidationFailed) as refused:
        content_clean(content)
    fields = refused.value.fields
    assert fields["cfd_experience"] == [
        "Question cfd_experience, option under_1y: the score must be a whole number from 0, not -2."]
    assert fields["trade_frequency"] == ["Question trade_frequency, option never has no text in ar."]
    assert fields["other_products"] == ["Question other_products: the kind must be \"single\" or \"multiple\"."]
    assert fields["leverage"] == ["Question leverage: option dont_know appears twice."]
    assert fields["annual_income"] == ["Question annual_income has no text in ar."]
    assert fields["bands"] == ["Band 3: there is no warning nope.", "The band 12–24 overlaps the band before it.",
                               "No band holds the scores 25–26."]
    # Missing languages, sections and a band for the knock-out are named too.
    content = demo_content()
    content["languages"] = ["en"]
    content["sections"] = [content["sections"][0], content["sections"][2]]
    content["bands"] = [{**b, "level": "appropriate"} for b in content["bands"]]
    with pytest.raises(ValidationFailed) as refused:
        content_clean(content)
    fields = refused.value.fields
    assert fields["languages"] == ["The questionnaire must be written in ar too."]
    assert fields["sections"] == ["Section knowledge is missing."]
    assert fields["bands"] == ["There are knock-out options, so a band must have the level not_appropriate (its "
                               "leverage limit and warnings apply to a knock-out)."]
    content = demo_content()
    content["bands"] = content["bands"][:2]
    with pytest.raises(ValidationFailed) as refused:
        content_clean(content)
    assert refused.value.fields == {"bands": ["No band holds the scores 25–37 (the highest possible score is 37)."]}


def test_a_published_version_never_changes_and_publishing_a_new_one_retires_it(quest):
    v1 = quest.version
    with pytest.raises(KycError) as refused:
        questionnaire_draft_save(actor=quest.compliance, brand=quest.brand, content=demo_content(), version=v1)
    assert refused.value.code == "version_not_draft"
    assert QuestionnaireVersion.objects.get(pk=v1.pk).content == v1.content
    first = _submit(quest, ANSWERS_APPROPRIATE)
    content = demo_content()
    content["bands"][2]["max_leverage"] = 100
    v2 = questionnaire_draft_save(actor=quest.compliance, brand=quest.brand, content=content)
    assert v2.number == 2 and v2.status == "draft"
    with pytest.raises(KycError):  # one draft at a time
        questionnaire_draft_save(actor=quest.compliance, brand=quest.brand, content=content)
    assert questionnaire_current_for(client=quest.client) == v1  # a draft is not answered yet
    questionnaire_version_publish(actor=quest.compliance, version=v2)
    v1.refresh_from_db()
    assert v1.status == "retired" and v1.retired_at is not None
    assert questionnaire_current_for(client=quest.client) == v2
    first.refresh_from_db()
    assert first.version == v1 and first.max_leverage is None  # an earlier assessment is not rewritten
    with pytest.raises(KycError):
        questionnaire_version_publish(actor=quest.compliance, version=v2)
    assert AuditLog.objects.filter(action="kyc.questionnaire_publish", object_id=str(v2.code)).exists()
    assert AuditLog.objects.filter(action="kyc.questionnaire_retire", object_id=str(v1.code)).exists()


def test_only_compliance_writes_questionnaires_and_enters_answers_on_a_clients_behalf(quest):
    with pytest.raises(NotAllowed):
        questionnaire_draft_save(actor=quest.owner, brand=quest.brand, content=demo_content())
    with pytest.raises(NotAllowed):
        _submit(quest, ANSWERS_APPROPRIATE, actor=quest.owner)
    response = _submit(quest, ANSWERS_APPROPRIATE, actor=quest.compliance)
    assert response.submitted_by == quest.compliance


def test_a_client_may_answer_again_once_a_day_and_three_times_in_thirty_days_and_the_latest_counts(
        quest, time_machine):
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    time_machine.move_to(start, tick=False)
    _submit(quest, ANSWERS_NOT_APPROPRIATE)
    time_machine.move_to(start + dt.timedelta(hours=23), tick=False)
    with pytest.raises(QuestionnaireRetakeRefused) as refused:
        _submit(quest, ANSWERS_APPROPRIATE)
    assert "2026-03-03 09:00" in refused.value.message
    time_machine.move_to(start + dt.timedelta(hours=24, seconds=1), tick=False)
    second = _submit(quest, ANSWERS_WITH_WARNING)
    assert questionnaire_latest_response(client=quest.client) == second
    time_machine.move_to(start + dt.timedelta(days=2, hours=1), tick=False)
    third = _submit(quest, ANSWERS_APPROPRIATE)
    assert questionnaire_latest_response(client=quest.client) == third
    time_machine.move_to(start + dt.timedelta(days=10), tick=False)
    with pytest.raises(QuestionnaireRetakeRefused) as refused:  # the fourth within 30 days
        _submit(quest, ANSWERS_APPROPRIATE)
    assert "2026-04-01 09:00" in refused.value.message
    time_machine.move_to(start + dt.timedelta(days=30, minutes=1), tick=False)
    assert _submit(quest, ANSWERS_APPROPRIATE).level == "appropriate"
    assert QuestionnaireResponse.objects.filter(client=quest.client).count() == 4


def test_the_assessment_is_an_event_on_the_clients_timeline(quest):
    response = _submit(quest, ANSWERS_WITH_WARNING, actor=quest.compliance)
    event = Event.objects.get(name="kyc.assessed")
    assert event.client == quest.client and event.actor == quest.compliance
    assert event.data == {"response": str(response.code), "version": 1, "score": 15,
                          "level": "appropriate_with_warning", "max_leverage": 30,
                          "warnings": ["limited_experience", "high_risk"], "knocked_out": False}
    audit = AuditLog.objects.get(action="kyc.questionnaire_submit")
    assert audit.object_id == str(response.code)


def test_the_seed_publishes_version_one_once_per_brand(quest):
    before = QuestionnaireVersion.objects.count()
    call_command("kyc_questionnaire_seed", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert QuestionnaireVersion.objects.count() == before
    version = QuestionnaireVersion.objects.get(questionnaire__brand=quest.brand)
    assert (version.number, version.status) == (1, "published")
    assert content_clean(copy.deepcopy(version.content)) == version.content

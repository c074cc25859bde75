"""Staff pages of the appropriateness questionnaire (compliance only: an agent gets a 404, an
anonymous visitor the login), the draft editor naming problems by question, the preview in English
and Arabic, publishing, the client's form in Arabic and the profile's Appropriateness tab."""
# ruff: noqa: F811 - pytest fixtures imported from questionnaire_support are redefined as test arguments

from __future__ import annotations

import json

from django.urls import reverse

from kyc.models import QuestionnaireVersion
from kyc.questionnaire import questionnaire_submit
from kyc.questionnaire_demo import ANSWERS_NOT_APPROPRIATE, demo_content
from kyc.questionnaire_forms import QuestionnaireForm
from tests.kyc.questionnaire_support import quest  # noqa: F401 - fixture


def test_the_questionnaire_pages_are_for_compliance_only(quest, client, login_verified):
    pages = [reverse("kyc_questionnaire_list"), reverse("kyc_questionnaire_version", args=[quest.version.code]),
             reverse("kyc_questionnaire_draft_new", args=[quest.brand.code])]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    client.force_login(quest.owner)
    for url in pages:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("kyc_questionnaire_publish", args=[quest.version.code])).status_code == 404
    login_verified(client, quest.compliance)
    for url in pages:
        assert client.get(url).status_code == 200, url
    listing = client.get(pages[0]).content.decode()
    assert f'data-brand="{quest.brand.code}"' in listing and 'data-status="published"' in listing
    # Another brand's questionnaire does not exist for a compliance officer of this brand.
    other = quest.outsider.brands.get()
    from tests.kyc.questionnaire_support import seed

    assert client.get(reverse("kyc_questionnaire_version", args=[seed(other).code])).status_code == 404
    assert client.get(reverse("kyc_questionnaire_draft_new", args=[other.code])).status_code == 404


def test_a_draft_with_problems_is_not_saved_and_the_problems_are_named_by_question(quest, client, login_verified):
    login_verified(client, quest.compliance)
    url = reverse("kyc_questionnaire_draft_new", args=[quest.brand.code])
    assert json.loads(client.get(url).context["form"].initial["content"]) == quest.version.content
    content = demo_content()
    content["sections"][1]["questions"][1]["options"][0]["text"].pop("ar")
    content["bands"][0]["max_score"] = 10
    response = client.post(url, {"content": json.dumps(content)})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-problem="margin_call"' in html and "Question margin_call, option warning has no text in ar." in html
    assert 'data-problem="bands"' in html and "No band holds the scores 11–14." in html
    assert client.post(url, {"content": "{not json"}).status_code == 400
    assert QuestionnaireVersion.objects.filter(questionnaire__brand=quest.brand).count() == 1


def test_compliance_saves_a_draft_previews_it_in_arabic_and_publishes_it(quest, client, login_verified):
    login_verified(client, quest.compliance)
    content = demo_content()
    content["bands"][1]["max_leverage"] = 20
    response = client.post(reverse("kyc_questionnaire_draft_new", args=[quest.brand.code]),
                           {"content": json.dumps(content)})
    draft = QuestionnaireVersion.objects.get(questionnaire__brand=quest.brand, status="draft")
    assert response.status_code == 302 and response["Location"] == reverse("kyc_questionnaire_version",
                                                                           args=[draft.code])
    preview = client.get(reverse("kyc_questionnaire_version", args=[draft.code]) + "?lang=ar").content.decode()
    assert 'lang="ar" dir="rtl"' in preview
    assert "منذ متى تتداول عقود الفروقات أو العملات الأجنبية؟" in preview and "1:20" in preview
    english = client.get(reverse("kyc_questionnaire_version", args=[draft.code])).content.decode()
    assert "How long have you been trading CFDs or forex?" in english and 'dir="ltr"' in english
    # A published version offers no editing.
    assert client.get(reverse("kyc_questionnaire_draft_edit", args=[quest.version.code])).status_code == 404
    response = client.post(reverse("kyc_questionnaire_publish", args=[draft.code]))
    assert response.status_code == 302
    assert dict(QuestionnaireVersion.objects.filter(questionnaire__brand=quest.brand)
                .values_list("number", "status")) == {1: "retired", 2: "published"}


def test_the_client_form_renders_the_version_in_arabic_and_gives_back_the_answers(quest):
    form = QuestionnaireForm(version=quest.version, language="ar")
    assert form.direction == "rtl"
    assert [s.title for s in form.sections()] == ["الخبرة في التداول", "المعرفة بالتداول بالرافعة المالية",
                                                 "الوضع المالي"]
    html = str(form["loss_affordability"])
    assert 'type="radio"' in html and "لا، لا يمكنني تحمّل خسارة هذا المال" in html
    assert 'type="checkbox"' in str(form["other_products"])
    data = {code: value for code, value in ANSWERS_NOT_APPROPRIATE.items()}
    bound = QuestionnaireForm(data, version=quest.version, language="ar")
    assert bound.is_valid(), bound.errors
    response = questionnaire_submit(actor=None, client=quest.client, version=quest.version, answers=bound.answers())
    assert response.level == "not_appropriate"
    missing = QuestionnaireForm({"cfd_experience": "none"}, version=quest.version, language="ar")
    assert not missing.is_valid() and "savings" in missing.errors


def test_the_appropriateness_tab_shows_the_answers_score_level_limit_and_warnings(quest, client, login_verified):
    url = reverse("client_detail", args=[quest.client.code]) + "?tab=appropriateness"
    client.force_login(quest.owner)
    assert "has not answered" in client.get(url).content.decode()
    questionnaire_submit(actor=quest.compliance, client=quest.client, version=quest.version,
                         answers=ANSWERS_NOT_APPROPRIATE)
    html = client.get(url).content.decode()
    assert 'data-score="4"' in html and "Not appropriate" in html and "1:10" in html
    assert "does not appear to be appropriate for you" in html  # the warning shown to the client
    assert "How long have you been trading CFDs or forex?" in html and "I have never traded them" in html
    assert f"entered by {quest.compliance.full_name}" in html
    client.force_login(quest.outsider)
    assert client.get(url).status_code == 404

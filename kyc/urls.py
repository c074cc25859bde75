"""URLs of the KYC staff pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from kyc import questionnaire_views as questionnaire
from kyc import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("kyc/queue/", views.queue, name="kyc_queue"),
    path("kyc/submissions/<uuid:code>/", views.submission_detail, name="kyc_submission"),
    path("kyc/submissions/<uuid:code>/<slug:action>/", views.submission_action, name="kyc_submission_action"),
    path("kyc/documents/<uuid:code>/", views.document_view, name="kyc_document"),
    path("kyc/vendors/<slug:vendor_code>/webhook/", views.vendor_webhook, name="kyc_vendor_webhook"),
    path("kyc/policies/", views.policy_list, name="kyc_policy_list"),
    path("kyc/policies/<slug:brand_code>/", views.policy_edit, name="kyc_policy_edit"),
    path("kyc/clients/<uuid:code>/address/", views.address_edit, name="kyc_address_edit"),
    path("kyc/questionnaires/", questionnaire.questionnaire_list, name="kyc_questionnaire_list"),
    path("kyc/questionnaires/<slug:brand_code>/new/", questionnaire.draft_new, name="kyc_questionnaire_draft_new"),
    path("kyc/questionnaires/versions/<uuid:code>/", questionnaire.version_detail, name="kyc_questionnaire_version"),
    path("kyc/questionnaires/versions/<uuid:code>/edit/", questionnaire.draft_edit,
         name="kyc_questionnaire_draft_edit"),
    path("kyc/questionnaires/versions/<uuid:code>/publish/", questionnaire.version_publish,
         name="kyc_questionnaire_publish"),
]

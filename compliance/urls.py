"""URLs of the compliance staff pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from compliance import (
    aml_views,
    cases_views,
    dashboard_views,
    data_request_views,
    retention_views,
    screening_views,
    views_risk,
)
from compliance import views_restrictions as restrictions

urlpatterns: list[URLPattern | URLResolver] = [
    # What waits for the compliance team: hits, alerts, cases by age and SLA, risk distribution.
    path("compliance/", dashboard_views.dashboard, name="compliance_dashboard"),
    # Screening (issue 34, item 4): the queue, a hit, the lists' versions and their diffs.
    path("compliance/screening/", screening_views.screening_queue, name="compliance_screening_queue"),
    path("compliance/screening/hits/<uuid:code>/", screening_views.screening_hit, name="compliance_screening_hit"),
    path("compliance/screening/hits/<uuid:code>/<slug:action>/", screening_views.screening_hit_action,
         name="compliance_screening_hit_action"),
    path("compliance/lists/", screening_views.watchlist_versions, name="compliance_watchlist_versions"),
    path("compliance/lists/<int:watchlist_id>/versions/<int:number>/", screening_views.watchlist_version,
         name="compliance_watchlist_version"),
    # Cases (issue 35, items 3 and 4): the queue, a case with the client's history, its operations.
    path("compliance/cases/", cases_views.case_queue, name="compliance_case_queue"),
    path("compliance/cases/<uuid:code>/", cases_views.case_detail, name="compliance_case_detail"),
    path("compliance/cases/<uuid:code>/report.pdf", cases_views.case_sar, name="compliance_case_sar"),
    path("compliance/cases/<uuid:code>/files/<uuid:file_code>/", cases_views.case_attachment,
         name="compliance_case_attachment"),
    path("compliance/cases/<uuid:code>/<slug:action>/", cases_views.case_action, name="compliance_case_action"),
    # Jurisdictions and restrictions (issue 34, items 5 and 6).
    path("compliance/jurisdictions/", restrictions.jurisdictions, name="compliance_jurisdictions"),
    path("compliance/jurisdictions/<slug:brand_code>/set/", restrictions.jurisdiction_save,
         name="compliance_jurisdiction_save"),
    path("compliance/jurisdictions/<slug:brand_code>/upload/", restrictions.jurisdictions_upload,
         name="compliance_jurisdictions_upload"),
    path("compliance/jurisdictions/<slug:brand_code>/<str:country>/clients/", restrictions.jurisdiction_clients,
         name="compliance_jurisdiction_clients"),
    path("compliance/clients/<uuid:code>/restrictions/", restrictions.restriction_impose,
         name="compliance_restriction_impose"),
    path("compliance/restrictions/<uuid:code>/lift/", restrictions.restriction_lift,
         name="compliance_restriction_lift"),
    # Risk score and the compliance trail export (issue 35, items 2 and 5).
    path("compliance/clients/<uuid:code>/risk-review/", views_risk.risk_review, name="compliance_risk_review"),
    path("compliance/risk-model/", views_risk.risk_model, name="compliance_risk_model"),
    path("compliance/trail/", views_risk.trail, name="compliance_trail"),
    path("compliance/trail/start/", views_risk.trail_start, name="compliance_trail_start"),
    # AML monitoring (issue 35, items 1 and 6): alerts, rules, their versions and dry runs.
    path("compliance/aml/alerts/", aml_views.alert_queue, name="compliance_aml_alerts"),
    path("compliance/aml/alerts/<uuid:code>/", aml_views.alert_detail, name="compliance_aml_alert"),
    path("compliance/aml/alerts/<uuid:code>/dismiss/", aml_views.alert_dismiss, name="compliance_aml_alert_dismiss"),
    path("compliance/aml/rules/", aml_views.rule_list, name="compliance_aml_rules"),
    path("compliance/aml/rules/<uuid:code>/", aml_views.rule_detail, name="compliance_aml_rule"),
    path("compliance/aml/rules/<uuid:code>/versions/<int:number>/dry-run/", aml_views.rule_dry_run,
         name="compliance_aml_rule_dry_run"),
    # Data-subject requests (issue 64): the clock, the export, an erasure's approval.
    path("compliance/data-requests/", data_request_views.data_request_list, name="compliance_data_requests"),
    path("compliance/data-requests/record/", data_request_views.data_request_record,
         name="compliance_data_request_record"),
    path("compliance/data-requests/<uuid:code>/", data_request_views.data_request_detail,
         name="compliance_data_request"),
    path("compliance/data-requests/<uuid:code>/archive.zip", data_request_views.data_request_download,
         name="compliance_data_request_download"),
    path("compliance/data-requests/<uuid:code>/<slug:action>/", data_request_views.data_request_action,
         name="compliance_data_request_action"),
    # The retention schedule (issue 64): the rules in force, the next run's dry run, the runs' reports.
    path("compliance/retention/", retention_views.retention_page, name="compliance_retention"),
    path("compliance/retention/rules/", retention_views.retention_rule_set, name="compliance_retention_rule"),
    path("compliance/retention/run/", retention_views.retention_run_now, name="compliance_retention_run"),
]

"""URLs of lead acquisition: the public form, staff pages and the administrators' settings."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from leads import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("leads.urls_sales")),  # calls, pipeline, telephony webhook, workspace, KPIs
    # public, embeddable
    path("f/<slug:brand_code>/lead/", views.lead_form, name="lead_form"),
    path("f/<slug:brand_code>/lead/thanks/", views.lead_form_thanks, name="lead_form_thanks"),
    # staff
    path("leads/assign/", views.lead_assign, name="lead_assign"),
    path("leads/imports/", views.lead_import_list, name="lead_import_list"),
    path("leads/imports/<uuid:code>/", views.lead_import_detail, name="lead_import_detail"),
    path("leads/imports/<uuid:code>/map/", views.lead_import_map, name="lead_import_map"),
    path("leads/imports/<uuid:code>/preview/", views.lead_import_preview_view, name="lead_import_preview"),
    path("leads/imports/<uuid:code>/errors.csv", views.lead_import_errors, name="lead_import_errors"),
    path("leads/clients/<uuid:code>/merge/", views.client_merge, name="lead_client_merge"),
    # administrators
    path("leads/settings/campaigns/", views.campaign_list, name="lead_campaign_list"),
    path("leads/settings/campaigns/<slug:brand_code>/<slug:code>/", views.campaign_edit, name="lead_campaign_edit"),
    path("leads/settings/scoring/", views.scoring_rule_list, name="lead_scoring_list"),
    path("leads/settings/scoring/<uuid:code>/", views.scoring_rule_edit, name="lead_scoring_edit"),
    path("leads/settings/routing/", views.routing_rule_list, name="lead_routing_list"),
    path("leads/settings/routing/reorder/", views.routing_rule_reorder, name="lead_routing_reorder"),
    path("leads/settings/routing/<uuid:code>/", views.routing_rule_edit, name="lead_routing_edit"),
    path("leads/settings/routing/<uuid:code>/move/", views.routing_rule_move, name="lead_routing_move"),
    path("leads/settings/sla/", views.desk_sla_list, name="lead_sla_list"),
    path("leads/settings/sla/<uuid:code>/", views.desk_sla_edit, name="lead_sla_edit"),
    path("leads/settings/availability/", views.availability_list, name="lead_availability_list"),
    path("leads/settings/availability/<uuid:code>/", views.availability_edit, name="lead_availability_edit"),
    path("leads/settings/telephony/", views.telephony_provider_list, name="lead_telephony_list"),
    path("leads/settings/telephony/<slug:code>/", views.telephony_provider_edit, name="lead_telephony_edit"),
    path("leads/settings/telephony/<slug:code>/rotate/", views.telephony_provider_rotate,
         name="lead_telephony_rotate"),
    path("leads/settings/telephony/<slug:code>/active/", views.telephony_provider_activate,
         name="lead_telephony_active"),
]

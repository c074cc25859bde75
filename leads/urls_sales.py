"""URLs of the sales desk: calls, pipeline, telephony webhook, workspace and KPIs."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from leads import sales_views, segment_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("hooks/telephony/<slug:provider>/", sales_views.telephony_webhook, name="telephony_webhook"),
    path("leads/clients/<uuid:code>/calls/", sales_views.call_log_view, name="lead_call_log"),
    path("leads/clients/<uuid:code>/dial/", sales_views.call_dial_view, name="lead_call_dial"),
    path("leads/clients/<uuid:code>/status/", sales_views.pipeline_move_view, name="lead_pipeline_move"),
    path("leads/my/", sales_views.lead_workspace, name="lead_workspace"),
    path("leads/my/views/", sales_views.saved_view_save_view, name="lead_saved_view_save"),
    path("leads/my/views/<int:view_id>/delete/", sales_views.saved_view_delete_view, name="lead_saved_view_delete"),
    path("leads/settings/pipeline/", sales_views.pipeline_settings, name="lead_pipeline_settings"),
    path("leads/kpis/", sales_views.sales_kpis, name="sales_kpis"),
    path("leads/kpis/costs/", sales_views.campaign_cost_add_view, name="sales_campaign_cost_add"),
    path("leads/segments/", segment_views.segment_list, name="lead_segment_list"),
    path("leads/segments/count/", segment_views.segment_count, name="lead_segment_count"),
    path("leads/segments/<uuid:code>/", segment_views.segment_edit, name="lead_segment_edit"),
    path("leads/segments/<uuid:code>/export/", segment_views.segment_export, name="lead_segment_export"),
]

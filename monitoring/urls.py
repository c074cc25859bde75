"""URLs of the monitoring staff pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from monitoring import settings_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("monitoring/alerts/", views.alert_list, name="monitoring_alerts"),
    path("monitoring/export/", views.activity_export, name="monitoring_activity_export"),
    # The monitoring administrator's settings: whose restriction needs two reviewers, per brand.
    path("monitoring/settings/", settings_views.monitoring_settings_page, name="monitoring_settings"),
    path("monitoring/alerts/<uuid:code>/", views.alert_detail, name="monitoring_alert"),
    path("monitoring/agents/<uuid:code>/<str:day>/", views.agent_day, name="monitoring_agent_day"),
    path("monitoring/context/notice/<uuid:code>/withdraw/", views.notice_withdraw, name="monitoring_notice_withdraw"),
    path("monitoring/context/", views.context_page, {"kind": "cover"}, name="monitoring_context_home"),
    path("monitoring/context/<slug:kind>/", views.context_page, name="monitoring_context"),
]

"""URLs of the reporting hub's staff pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from reports import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("reports/dashboard/", views.dashboard, name="reports_dashboard"),
    path("reports/dashboard/rows/", views.drill, name="reports_drill"),
    path("reports/", views.report_list, name="reports_list"),
    path("reports/schedules/", views.schedule_list, name="reports_schedules"),
    path("reports/schedules/<uuid:code>/stop/", views.schedule_stop, name="reports_schedule_stop"),
    path("reports/<slug:name>/", views.report_view, name="reports_report"),
    path("reports/<slug:name>/export/", views.report_export, name="reports_export"),
    path("reports/<slug:name>/schedule/", views.schedule_create, name="reports_schedule_create"),
]

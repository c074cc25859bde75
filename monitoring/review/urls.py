from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from monitoring.review import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("monitoring/review/alerts/<uuid:code>/decide/", views.alert_decide, name="monitoring_review_decide"),
    path("monitoring/budget/", views.budget_page, name="monitoring_budget"),
    path("monitoring/performance/", views.performance_page, name="monitoring_performance"),
]

"""URLs of marketing's staff pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from marketing import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("marketing.consent_urls")),  # the public unsubscribe link, the mail provider's webhook
    path("marketing/segments/", views.segment_list, name="marketing_segments"),
    path("marketing/segments/count/", views.segment_count, name="marketing_segment_count"),
    path("marketing/segments/<uuid:code>/", views.segment_detail, name="marketing_segment"),
    path(
        "marketing/segments/<uuid:code>/snapshot/", views.segment_snapshot, name="marketing_segment_snapshot"
    ),
]

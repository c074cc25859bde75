"""URLs of marketing's staff pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from marketing import campaign_views, sequence_views, suppression_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("marketing.consent_urls")),  # the public unsubscribe link, the mail provider's webhook
    path("marketing/segments/", views.segment_list, name="marketing_segments"),
    path("marketing/segments/count/", views.segment_count, name="marketing_segment_count"),
    path("marketing/segments/<uuid:code>/", views.segment_detail, name="marketing_segment"),
    path(
        "marketing/segments/<uuid:code>/snapshot/", views.segment_snapshot, name="marketing_segment_snapshot"
    ),
    path("marketing/campaigns/", campaign_views.campaign_list, name="marketing_campaigns"),
    path("marketing/campaigns/new/", campaign_views.campaign_new, name="marketing_campaign_new"),
    path(
        "marketing/campaigns/count/", campaign_views.campaign_segment_count, name="marketing_campaign_count"
    ),
    path("marketing/campaigns/preview/", campaign_views.campaign_preview, name="marketing_campaign_preview"),
    path("marketing/campaigns/test/", campaign_views.campaign_test_send, name="marketing_campaign_test"),
    path("marketing/campaigns/<uuid:code>/", campaign_views.campaign_detail, name="marketing_campaign"),
    path(
        "marketing/campaigns/<uuid:code>/send/", campaign_views.campaign_send, name="marketing_campaign_send"
    ),
    path(
        "marketing/campaigns/<uuid:code>/schedule/",
        campaign_views.campaign_schedule,
        name="marketing_campaign_schedule",
    ),
    path(
        "marketing/campaigns/<uuid:code>/resume/",
        campaign_views.campaign_resume,
        name="marketing_campaign_resume",
    ),
    path(
        "marketing/campaigns/<uuid:code>/cancel/",
        campaign_views.campaign_cancel,
        name="marketing_campaign_cancel",
    ),
    path("marketing/sequences/", sequence_views.sequence_list, name="marketing_sequences"),
    path("marketing/sequences/new/", sequence_views.sequence_edit, name="marketing_sequence_new"),
    path("marketing/sequences/step/", sequence_views.sequence_step_row, name="marketing_sequence_step"),
    path("marketing/sequences/<uuid:code>/", sequence_views.sequence_detail, name="marketing_sequence"),
    path("marketing/sequences/<uuid:code>/edit/", sequence_views.sequence_edit, name="marketing_sequence_edit"),
    path(
        "marketing/sequences/<uuid:code>/pause/", sequence_views.sequence_pause, name="marketing_sequence_pause"
    ),
    path(
        "marketing/sequences/<uuid:code>/resume/",
        sequence_views.sequence_resume,
        name="marketing_sequence_resume",
    ),
    path("marketing/suppressions/", suppression_views.suppression_list, name="marketing_suppressions"),
    path(
        "marketing/suppressions/<int:pk>/lift/",
        suppression_views.suppression_lift_view,
        name="marketing_suppression_lift",
    ),
    # The recipients' signed links: the open pixel and the click redirect (no login).
    path("m/o/<str:token>/", campaign_views.campaign_open, name="marketing_campaign_open"),
    path("m/c/<str:token>/", campaign_views.campaign_click, name="marketing_campaign_click"),
]

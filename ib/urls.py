"""URLs of the IB manager's pages, the partner portal (ib/partner_urls.py, /partners/), and the public
tracking-link redirect."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from ib import dispute_views, onboarding_views, plan_views, settlement_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("ib/partners/", views.partner_list, name="ib_partner_list"),
    path("ib/partners/new/", onboarding_views.partner_new, name="ib_partner_new"),
    path("ib/partners/<uuid:code>/links/", onboarding_views.partner_link_new, name="ib_partner_link_new"),
    path("ib/applications/", onboarding_views.application_list, name="ib_application_list"),
    path("ib/applications/<uuid:code>/", onboarding_views.application_detail, name="ib_application_detail"),
    path("ib/applications/<uuid:code>/approve/", onboarding_views.application_approve, name="ib_application_approve"),
    path("ib/applications/<uuid:code>/reject/", onboarding_views.application_reject, name="ib_application_reject"),
    path("ib/partners/<uuid:code>/", views.partner_detail, name="ib_partner_detail"),
    path("ib/partners/<uuid:code>/move/", views.partner_move, name="ib_partner_move"),
    path("ib/partners/<uuid:code>/statement/", views.partner_statement, name="ib_partner_statement"),
    path("ib/partners/<uuid:code>/approve/", views.partner_decide, {"decision": "approve"}, name="ib_partner_approve"),
    path("ib/partners/<uuid:code>/reject/", views.partner_decide, {"decision": "reject"}, name="ib_partner_reject"),
    path("ib/partners/<uuid:code>/postback/", views.partner_postback, name="ib_partner_postback"),
    path("ib/partners/<uuid:code>/postbacks/<uuid:delivery>/retry/", views.partner_postback_retry,
         name="ib_postback_retry"),

    path("ib/partners/<uuid:code>/settlement/", settlement_views.partner_settlement, name="ib_partner_settlement"),
    path("ib/links/<str:code>/qr.<str:fmt>", views.link_qr, name="ib_link_qr"),
    path("ib/banners/", views.banner_list, name="ib_banner_list"),
    path("ib/banners/<uuid:code>/active/", views.banner_active, name="ib_banner_active"),
    path("ib/conflicts/", views.conflict_list, name="ib_conflict_list"),
    path("ib/conflicts/<uuid:code>/resolve/", views.conflict_resolve, name="ib_conflict_resolve"),
    path("ib/disputes/", dispute_views.dispute_list, name="ib_dispute_list"),
    path("ib/disputes/<uuid:code>/", dispute_views.dispute_detail, name="ib_dispute_detail"),
    path("ib/plans/", plan_views.plan_list, name="ib_plan_list"),
    path("ib/plans/<uuid:code>/", plan_views.plan_detail, name="ib_plan_detail"),
    path("ib/plans/<uuid:code>/versions/", plan_views.plan_version_new, name="ib_plan_version_new"),
    path("ib/plans/<uuid:code>/sub-partners/", onboarding_views.plan_sub_partners, name="ib_plan_sub_partners"),
    path("ib/plans/<uuid:code>/assign/", plan_views.plan_assign, name="ib_plan_assign"),
    path("ib/plans/<uuid:code>/versions/<int:number>/what-if/", plan_views.plan_what_if, name="ib_plan_what_if"),
    path("ib/import/", plan_views.import_upload, name="ib_import"),
    path("ib/runs/start/", plan_views.run_start, name="ib_run_start"),
    path("ib/runs/", settlement_views.run_list, name="ib_run_list"),
    path("ib/runs/<uuid:code>/", settlement_views.run_detail, name="ib_run_detail"),
    path("ib/runs/<uuid:code>/backtest/", settlement_views.run_backtest, name="ib_run_backtest"),
    path("ib/runs/<uuid:code>/settle/", settlement_views.run_settle, name="ib_run_settle"),
    path("ib/payouts/", settlement_views.payout_list, name="ib_payout_list"),
    path("ib/payouts/<uuid:code>/pay/", settlement_views.payout_pay, name="ib_payout_pay"),
    path("ib/payouts/<uuid:code>/reject/", settlement_views.payout_reject, name="ib_payout_reject"),
    path("ib/clients/<uuid:code>/attribution/", views.client_attribute, name="ib_client_attribute"),
    # Public: a partner's tracking link (no login).
    path("r/<str:code>/", views.click_redirect, name="ib_click"),
    # The partner portal: its own login and session (ib.partner_auth).
    path("", include("ib.partner_urls")),
]

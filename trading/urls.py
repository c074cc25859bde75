"""URLs of the trading staff pages, and the public page of a trading password link."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from trading import prop_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("trading/clients/<uuid:code>/accounts/open/", views.account_open, name="trading_account_open"),
    path("trading/accounts/<uuid:code>/<slug:action>/", views.account_action, name="trading_account_action"),
    path("trading/servers/", views.server_list, name="trading_server_list"),
    path("trading/servers/new/", views.server_create, name="trading_server_create"),
    path("trading/servers/<uuid:code>/", views.server_edit, name="trading_server_edit"),
    path("trading/servers/<uuid:code>/groups/", views.server_groups, name="trading_server_groups"),
    path("trading/deals/", views.deal_list, name="trading_deal_list"),
    path("trading/exposure/", views.exposure_view, name="trading_exposure"),
    path("trading/retention/", views.retention_workspace, name="trading_retention"),
    path("trading/leverage-caps/", views.policy_list, name="trading_policy_list"),
    path("trading/leverage-caps/<slug:brand_code>/", views.policy_edit, name="trading_policy_edit"),
    path("trading/leverage-caps/<slug:brand_code>/rules/new/", views.cap_create, name="trading_cap_create"),
    path("trading/leverage-caps/<slug:brand_code>/rules/<uuid:code>/", views.cap_edit, name="trading_cap_edit"),
    path("trading/leverage-caps/<slug:brand_code>/rules/<uuid:code>/delete/", views.cap_delete,
         name="trading_cap_delete"),
    path("trading/leverage-caps/<slug:brand_code>/lower/", views.leverage_lower, name="trading_leverage_lower"),
    path("trading/clients/<uuid:code>/classification/", views.client_classification,
         name="trading_client_classification"),
    path("trading/challenges/", prop_views.challenge_list, name="trading_challenge_list"),
    path("trading/challenges/<uuid:code>/", prop_views.challenge_detail, name="trading_challenge_detail"),
    path("trading/challenge-products/", prop_views.product_list, name="trading_challenge_products"),
    # Public: the link of a trading password email (no staff login).
    path("trading-password/<str:token>/", views.password_link, name="trading_password_link"),
]

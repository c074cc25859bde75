"""URLs of the trading staff pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from trading import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("trading/clients/<uuid:code>/accounts/open/", views.account_open, name="trading_account_open"),
    path("trading/accounts/<uuid:code>/<slug:action>/", views.account_action, name="trading_account_action"),
    path("trading/servers/", views.server_list, name="trading_server_list"),
    path("trading/servers/new/", views.server_create, name="trading_server_create"),
    path("trading/servers/<uuid:code>/", views.server_edit, name="trading_server_edit"),
    path("trading/deals/", views.deal_list, name="trading_deal_list"),
    path("trading/exposure/", views.exposure_view, name="trading_exposure"),
    path("trading/retention/", views.retention_workspace, name="trading_retention"),
    path("trading/leverage-caps/", views.policy_list, name="trading_policy_list"),
    path("trading/leverage-caps/<slug:brand_code>/", views.policy_edit, name="trading_policy_edit"),
]

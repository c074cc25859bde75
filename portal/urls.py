"""The trader's room, under /portal/: a client's own pages, never a staff page."""

from __future__ import annotations

from django.urls import path

from portal import (
    account_views,
    challenge_views,
    kyc_views,
    security_views,
    transfer_views,
    views,
    wallet_views,
    withdrawal_views,
)

app_name = "portal"

urlpatterns = [
    path("portal/", views.home, name="home"),
    path("portal/login/", views.login_entry, name="login"),
    path("portal/login/code/", views.login_code, name="login_code"),
    path("portal/logout/", views.logout, name="logout"),
    path("portal/verify/resend/", views.verify_resend, name="verify_resend"),
    path("portal/verify/<str:token>/", views.verify_email, name="verify_email"),
    path("portal/password/reset/<str:code>/<str:token>/", views.password_reset_confirm,
         name="password_reset_confirm"),
    path("portal/profile/", views.profile, name="profile"),
    path("portal/security/two-factor/", views.two_factor, name="two_factor"),
    path("portal/consents/", views.consents_accept, name="consents_accept"),
    path("portal/documents/<str:code>/", views.document, name="document"),
    path("portal/security/sessions/", security_views.sessions, name="sessions"),
    path("portal/security/sessions/<str:code>/end/", security_views.session_end, name="session_end"),
    path("portal/notifications/", security_views.notifications, name="notifications"),
    path("portal/notifications/read/", security_views.notifications_read, name="notifications_read"),
    path("portal/notifications/<str:code>/read/", security_views.notifications_read, name="notification_read"),
    path("portal/accounts/panel/", account_views.accounts_panel, name="accounts_panel"),
    path("portal/accounts/choose/", account_views.account_choose, name="account_choose"),
    path("portal/accounts/new/", account_views.account_new, name="account_new"),
    path("portal/accounts/<str:code>/leverage/", account_views.account_leverage, name="account_leverage"),
    path("portal/challenges/", challenge_views.challenges, name="challenges"),
    path("portal/challenges/buy/", challenge_views.challenge_buy_view, name="challenge_buy"),
    path("portal/challenges/<str:code>/", challenge_views.challenge_detail, name="challenge"),
    path("portal/verification/", kyc_views.journey, name="kyc"),
    path("portal/verification/status/", kyc_views.status, name="kyc_status"),
    path("portal/verification/documents/<str:code>/", kyc_views.document, name="kyc_document"),
    path("portal/wallet/", wallet_views.wallet_home, name="wallet"),
    path("portal/wallet/deposit/", wallet_views.deposit_new, name="wallet_deposit_new"),
    path("portal/wallet/deposit/return/", wallet_views.deposit_return, name="wallet_deposit_return"),
    path("portal/wallet/deposit/quote/", wallet_views.deposit_quote, name="wallet_deposit_quote"),
    path("portal/wallet/deposit/<str:code>/", wallet_views.deposit_detail, name="wallet_deposit"),
    path("portal/wallet/deposit/<str:code>/checkout/", wallet_views.deposit_checkout,
         name="wallet_deposit_checkout"),
    path("portal/wallet/deposit/<str:code>/status/", wallet_views.deposit_status, name="wallet_deposit_status"),
    path("portal/wallet/deposit/<str:code>/cancel/", wallet_views.deposit_cancel, name="wallet_deposit_cancel"),
    path("portal/wallet/statement/", wallet_views.statement, name="wallet_statement"),
    path("portal/wallet/withdraw/", withdrawal_views.withdraw, name="withdraw"),
    path("portal/wallet/transfer/", transfer_views.transfer, name="wallet_transfer"),
    path("portal/wallet/withdraw/check/", withdrawal_views.withdraw_check, name="withdraw_check"),
    path("portal/wallet/withdraw/<str:code>/cancel/", withdrawal_views.withdraw_cancel, name="withdraw_cancel"),
    path("portal/<slug:brand_code>/register/", views.register, name="register"),
    path("portal/<slug:brand_code>/register/done/", views.register_done, name="register_done"),
    path("portal/<slug:brand_code>/login/", views.login, name="login_brand"),
    path("portal/<slug:brand_code>/password/reset/", views.password_reset, name="password_reset"),
]

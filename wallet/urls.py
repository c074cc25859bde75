"""URLs of the wallet: the providers' webhook endpoint (public, signed) and the staff pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from wallet import (
    close_views,
    deposit_views,
    dispute_views,
    flow_views,
    policy_views,
    provider_views,
    reconciliation_views,
    transfer_views,
    withdrawal_views,
)

urlpatterns: list[URLPattern | URLResolver] = [
    # Public: providers post here, authenticated by their signature, not by a login.
    path("wallet/webhooks/<slug:provider_code>/", provider_views.webhook, name="wallet_webhook"),
    path("wallet/providers/", provider_views.provider_list, name="wallet_provider_list"),
]

# Deposits: finance's list.
urlpatterns += [
    path("wallet/deposits/", deposit_views.deposit_list, name="wallet_deposit_list"),
    path("wallet/deposits/<str:code>/", deposit_views.deposit_detail, name="wallet_deposit_detail"),
    path("wallet/deposits/<str:code>/refund/", deposit_views.deposit_refund_view, name="wallet_deposit_refund"),
    path("wallet/deposits/<str:code>/refunds/<uuid:refund_code>/approve/", deposit_views.deposit_refund_approve_view,
         name="wallet_deposit_refund_approve"),
    path("wallet/deposits/<str:code>/refunds/<uuid:refund_code>/send-back/",
         deposit_views.deposit_refund_send_back_view, name="wallet_deposit_refund_send_back"),
    # A deposit held because the provider took another currency: finance releases or refuses it.
    path("wallet/deposits/<str:code>/release/", deposit_views.deposit_release_view, name="wallet_deposit_release"),
    path("wallet/deposits/<str:code>/refuse/", deposit_views.deposit_refuse_view, name="wallet_deposit_refuse"),
    path("wallet/flow/", flow_views.money_flow, name="wallet_money_flow"),
]

# Payment disputes (retrieval requests, chargebacks): finance's queue, a case, the chargeback ratio.
urlpatterns += [
    path("wallet/disputes/", dispute_views.dispute_queue, name="wallet_dispute_queue"),
    path("wallet/disputes/ratio/", dispute_views.chargeback_ratio, name="wallet_chargeback_ratio"),
    path("wallet/disputes/report/", dispute_views.dispute_report_view, name="wallet_dispute_report"),
    path("wallet/disputes/<str:code>/", dispute_views.dispute_detail, name="wallet_dispute_detail"),
    path("wallet/disputes/<str:code>/evidence/", dispute_views.dispute_evidence_view, name="wallet_dispute_evidence"),
    path("wallet/disputes/<str:code>/evidence/<uuid:evidence_code>/", dispute_views.dispute_evidence_file,
         name="wallet_dispute_evidence_file"),
    path("wallet/disputes/<str:code>/represent/", dispute_views.dispute_represent_view,
         name="wallet_dispute_represent"),
    path("wallet/disputes/<str:code>/accept/", dispute_views.dispute_accept_view, name="wallet_dispute_accept"),
    path("wallet/disputes/<str:code>/outcome/", dispute_views.dispute_outcome_view, name="wallet_dispute_outcome"),
]

# Withdrawals: finance's queue (the client's own pages are in the portal).
urlpatterns += [
    path("wallet/withdrawals/", withdrawal_views.withdrawal_queue, name="wallet_withdrawal_queue"),
    # Each brand's withdrawal policy (automatic approval, four eyes, daily limit): administrators set it.
    path("wallet/withdrawals/policy/", policy_views.policy_list, name="wallet_withdrawal_policy_list"),
    path("wallet/withdrawals/policy/<slug:brand_code>/", policy_views.policy_edit,
         name="wallet_withdrawal_policy_edit"),
    path("wallet/withdrawals/<str:code>/", withdrawal_views.withdrawal_detail, name="wallet_withdrawal_detail"),
    path("wallet/withdrawals/<str:code>/approve/", withdrawal_views.withdrawal_approve_view,
         name="wallet_withdrawal_approve"),
    path("wallet/withdrawals/<str:code>/send-back/", withdrawal_views.withdrawal_send_back_view,
         name="wallet_withdrawal_send_back"),
    path("wallet/withdrawals/<str:code>/reject/", withdrawal_views.withdrawal_reject_view,
         name="wallet_withdrawal_reject"),
    path("wallet/withdrawals/<str:code>/paid/", withdrawal_views.withdrawal_mark_paid_view,
         name="wallet_withdrawal_mark_paid"),
    path("wallet/withdrawals/<str:code>/failed/", withdrawal_views.withdrawal_mark_failed_view,
         name="wallet_withdrawal_mark_failed"),
]

# Transfers: finance's action on the client's Wallet tab (the client's own page is in the portal).
urlpatterns += [
    path("wallet/clients/<str:code>/transfer/", transfer_views.client_transfer, name="wallet_client_transfer"),
    path("wallet/clients/<str:code>/statement/", transfer_views.client_statement, name="wallet_client_statement"),
]

# The month-end close per provider and currency: the overview, a month's report, closing it, files.
urlpatterns += [
    path("wallet/close/", close_views.close_list, name="wallet_close_list"),
    path("wallet/close/<slug:provider_code>/<str:currency>/<str:period>/", close_views.close_detail,
         name="wallet_close_detail"),
    path("wallet/close/<slug:provider_code>/<str:currency>/<str:period>/close/", close_views.close_month,
         name="wallet_close_month"),
    path("wallet/close/<slug:provider_code>/<str:currency>/<str:period>/<str:fmt>/", close_views.close_download,
         name="wallet_close_download"),
]

# Reconciliation: settlement imports, the breaks queue, the platform check (finance).
urlpatterns += [
    path("wallet/reconciliation/", reconciliation_views.recon_home, name="wallet_recon_home"),
    path("wallet/reconciliation/import/", reconciliation_views.recon_import, name="wallet_recon_import_start"),
    path("wallet/reconciliation/imports/<str:code>/", reconciliation_views.recon_import_detail,
         name="wallet_recon_import"),
    path("wallet/reconciliation/breaks/", reconciliation_views.recon_breaks, name="wallet_recon_breaks"),
    path("wallet/reconciliation/imports/<str:code>/rematch/", reconciliation_views.recon_import_rematch,
         name="wallet_recon_import_rematch"),
    path("wallet/reconciliation/breaks/<str:code>/resolve/", reconciliation_views.recon_break_resolve,
         name="wallet_recon_break_resolve"),
    path("wallet/reconciliation/breaks/<str:code>/rematch/", reconciliation_views.recon_break_rematch,
         name="wallet_recon_break_rematch"),
    path("wallet/reconciliation/platform/", reconciliation_views.recon_platform, name="wallet_recon_platform"),
]

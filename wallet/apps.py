from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.models import RoleCode
        from crm.registry import ApiScope, NavItem, PlaybookRule, contribute
        from wallet import deposits  # noqa: F401 - registers the deposits' webhook handler
        from wallet.deposit_views import ui_contributions
        from wallet.providers.webhook_handlers import register_webhook_handler
        from wallet.withdrawals import withdrawal_webhook

        register_webhook_handler(withdrawal_webhook)
        from trading.services import register_demo_funder
        from wallet.demo import demo_account_fund

        # The demo funds live accounts through the client's wallet and a transfer, as production does.
        register_demo_funder(demo_account_fund)
        from crm.lib.partitions import PARTITIONED_TABLES, MonthlyTable

        # Ledger legs by month of their posting (migration 0022); wallet_ledger_post makes a missing month.
        PARTITIONED_TABLES.register(MonthlyTable(table="wallet_ledgerleg", column="recorded_at",
                                                 retention_setting="WALLET_LEDGER_RETENTION_YEARS", retention_years=7))

        from crm.jobs import job_kind_register
        from wallet.reconciliation import IMPORT_JOB_COUNTS, IMPORT_JOB_KIND

        job_kind_register(IMPORT_JOB_KIND, label=_("Settlement import"), counts=dict(IMPORT_JOB_COUNTS))

        contribute("wallet", playbook=[PlaybookRule({
            "name": "First deposit: notify the agent",
            "trigger": "wallet.first_deposit",
            "conditions": [],
            "actions": [{"type": "notify", "who": "owner", "title": "First deposit: {{ client.full_name }}",
                         "body": "{{ event.data.amount }} {{ event.data.currency }}"}],
        }, order=30)],
            # Finance runs the providers day to day (methods, limits, fees, incoming wires);
            # administrators set them up.
            permissions=_provider_permissions(RoleCode),
            navigation=[NavItem("payment_providers", _("Payment providers"), "wallet_provider_list", "card",
                                permission="wallet.manage_providers", order=780),
                        NavItem("deposits", _("Deposits"), "wallet_deposit_list", "down",
                                permission="wallet.view_deposit", order=770),
                        NavItem("withdrawals", _("Withdrawals"), "wallet_withdrawal_queue", "up",
                                permission="wallet.approve_withdrawal", order=775),
                        NavItem("disputes", _("Disputes"), "wallet_dispute_queue", "scale",
                                permission="wallet.manage_dispute", order=774),
                        NavItem("money_flow", _("Money flow"), "wallet_money_flow", "chart",
                                permission="wallet.view_deposit", order=772),
                        NavItem("reconciliation", _("Reconciliation"), "wallet_recon_home", "scale",
                                permission="wallet.reconcile", order=776),
                        NavItem("month_close", _("Month-end close"), "wallet_close_list", "lock",
                                permission="wallet.view_monthclose", order=785)],
            api_scopes=[
                ApiScope("wallet:read", _("Read clients' wallet balances, deposits and withdrawals."), order=300),
                ApiScope("wallet:write", _("Refund deposits and transfer money between a client's wallet and "
                                           "trading accounts."), order=310),
                ApiScope("wallet:approve", _("Approve and reject withdrawals (one approval only: those needing "
                                             "two are approved by two people of finance)."), order=320),
                ApiScope("wallet:disputes", _("Read and work payment disputes: attach evidence, record the "
                                              "representment, accept, record the provider's outcome."), order=330)],
            **ui_contributions())


def _provider_permissions(role_code: Any) -> dict[str, list[str]]:
    manage = ["wallet.manage_providers", "wallet.view_paymentprovider", "wallet.view_paymentmethod",
              "wallet.view_webhookdelivery", "wallet.view_bankwireincoming", "wallet.add_bankwireincoming"]
    # Finance refunds deposits and decides the ones held because the provider took another currency.
    deposits = ["wallet.view_deposit", "wallet.refund_deposit", "wallet.decide_held_deposit"]
    # Finance decides withdrawals (the queue, four eyes); administrators may too.
    withdrawals = ["wallet.approve_withdrawal", "wallet.view_withdrawal"]
    # Finance moves a client's money between wallet and trading accounts for the client.
    transfers = ["wallet.transfer_funds", "wallet.view_transfer"]
    # Finance reconciles the providers' settlement files and the platforms, and resolves the breaks.
    reconciliation = ["wallet.reconcile", "wallet.view_settlementimport", "wallet.view_reconciliationbreak"]
    # Finance signs off each provider's month; it is locked from then on.
    close = ["wallet.close_month", "wallet.view_monthclose"]
    # Finance works the providers' disputes (retrieval requests, chargebacks): evidence, representment, outcome.
    disputes = ["wallet.manage_dispute", "wallet.view_dispute"]
    everything = [*manage, *deposits, *disputes, *withdrawals, *transfers, *reconciliation, *close]
    # Each brand's withdrawal policy (automatic approval, four eyes, daily limit): administrators set
    # it; finance, who decide withdrawals by it, read it (approvers do not move their own thresholds).
    return {role_code.ADMIN: [*everything, "wallet.view_withdrawalpolicy", "wallet.change_withdrawalpolicy"],
            role_code.FINANCE: [*everything, "wallet.view_withdrawalpolicy"]}

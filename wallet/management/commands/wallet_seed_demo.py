"""`manage.py wallet_seed_demo`: six weeks of demo deposits for demo clients, made through the
deposit services with the bank-wire provider (which needs no network) and confirmed by the
provider's notification applied through the webhook handler, as a real confirmation would be;
then the previous month closed by the demo finance officer (wallet.close), so that the month-end
close shows a locked month and the current one open. Safe to run again: a brand that has deposits
already is left alone, and a closed month stays as it is.

Whom it funds: each brand's first clients that a funded client of the demo can be, that is
verified: those verified already, and those never asked for a verification, verified first
through the KYC services (kyc.demo.demo_verified, approved by the automatic checks), so that a
funded client has an approved verification and trading_demo_setup opens its live account under
a brand that requires one (Nova FX). A closed client, and one whose verification the KYC demo
left pending, refused or expired (the review queue's stories), are not funded."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from crm.lib.money import Money
from crm.models import Brand, Client, Stage
from plumbing import context
from wallet.demo import (
    demo_disputes,
    demo_wire_deposit,
    demo_wire_methods,
    demo_wire_provider,
    demo_withdrawal_policy,
)
from wallet.models import Deposit, Dispute

CLIENTS_PER_BRAND = 12


class Command(BaseCommand):
    help = "Post a month of demo deposits (bank wires, confirmed through the webhook handler) for demo clients."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(options["seed"])
        wire = demo_wire_provider()
        made = 0
        now = timezone.now()
        for brand in Brand.objects.filter(is_active=True).order_by("pk"):
            demo_withdrawal_policy(brand=brand)  # four eyes above 1,000: unless an administrator set one
            if Deposit.objects.filter(brand=brand).exists():
                continue
            demo_wire_methods(brand=brand, wire=wire)
            clients = self._fundable(brand)
            for client in clients:
                # Oldest first, so that the first-time deposit is the client's earliest one.
                moments = sorted(now - dt.timedelta(days=rng.randint(0, 44), hours=rng.randint(1, 23))
                                 for _ in range(rng.randint(1, 3)))
                for n, when in enumerate(moments):
                    amount = Money(Decimal(rng.choice([250, 500, 1000, 1500, 2500, 5000])), "USD")
                    demo_wire_deposit(provider=wire, client=client, amount=amount, at=when, n=n,
                                      asked_minutes_before=rng.randint(5, 90), succeeded=rng.random() < 0.85)
                    made += 1
        self.stdout.write(f"wallet demo: {made} deposit(s)")
        # A chargeback and a retrieval request for finance's disputes queue, in the first brand with deposits.
        with context.acting_as(None, source="seed"):
            for brand in Brand.objects.filter(is_active=True).order_by("pk"):
                if Dispute.objects.filter(brand=brand).exists():
                    break
                opened = demo_disputes(provider=wire, brand=brand)
                if opened:
                    self.stdout.write(f"wallet demo: {opened} dispute(s) in {brand.code}")
                    break
        # The bank's statement first: the month is closed knowing the breaks it left open.
        self._reconcile_last_month(wire)
        self._close_last_month(wire)

    @staticmethod
    def _fundable(brand: Brand) -> list[Client]:
        """The brand's first CLIENTS_PER_BRAND clients (by id) that are verified or could be verified
        now, verified through the KYC services where they were not."""
        from kyc.demo import demo_verified

        chosen: list[Client] = []
        ids = Client.objects.filter(brand=brand).exclude(stage=Stage.CLOSED).order_by("pk").values_list("pk", flat=True)
        with context.acting_as(None, source="seed"):
            for pk in list(ids):
                client = Client.objects.get(pk=pk)
                with transaction.atomic():  # verified whole, or not at all
                    # Passport numbers apart from the KYC demo's (0-18) and the funded room client's (900).
                    if demo_verified(client=client, n=500 + len(chosen)):
                        chosen.append(client)
                if len(chosen) == CLIENTS_PER_BRAND:
                    break
        return chosen

    def _close_last_month(self, wire: Any) -> None:
        """The previous month closed for the wire provider's currencies, by the demo finance officer."""
        from crm.models import RoleCode, User
        from wallet.close import close_currencies, last_closed, month_close
        from wallet.exceptions import MonthNotClosable

        finance = User.objects.filter(role__code=RoleCode.FINANCE, is_active=True).order_by("pk").first()
        if finance is None:
            return
        period = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        for currency in close_currencies(wire):
            if last_closed(wire, currency) is not None:
                continue
            try:
                month_close(actor=finance, provider=wire, currency=currency, period=period,
                            note="Demo: closed when the demo was set up.")
            except MonthNotClosable as refused:
                self.stderr.write(f"wallet demo: {period:%Y-%m} {currency} not closed: {refused.message}")
                continue
            self.stdout.write(f"wallet demo: {period:%Y-%m} closed for {wire.code} {currency}")

    def _reconcile_last_month(self, wire: Any) -> None:
        """The bank's statement of the last month imported and matched, once: one wire arrived short
        and one is not on it, so the breaks queue has work."""
        from crm.models import RoleCode, User
        from wallet.models import SettlementImport
        from wallet.provider_services import settlement_mapping_save
        from wallet.reconciliation import settlement_import_run, settlement_import_start

        finance = User.objects.filter(role__code=RoleCode.FINANCE, is_active=True).order_by("pk").first()
        if finance is None or SettlementImport.objects.filter(provider=wire).exists():
            return
        # Whole days (the statement's first day complete): a wire of that day left off would be a break.
        first_day = timezone.localdate() - dt.timedelta(days=30)
        since = timezone.make_aware(dt.datetime.combine(first_day, dt.time.min))
        paid = list(Deposit.objects.filter(provider=wire, credit_transaction__occurred_at__gte=since)
                    .select_related("credit_transaction").order_by("credit_transaction__occurred_at", "pk"))
        if len(paid) < 3:
            return
        # A wire inside the statement's days that the bank has not listed: missing at the provider (the
        # newest would fall after the statement's last day, outside what the file can speak for).
        unlisted = len(paid) // 2
        settlement_mapping_save(provider=wire, name="Bank statement (demo)", columns={
            "provider_ref": "reference", "merchant_ref": "our_reference", "kind": "type", "amount": "amount",
            "currency": "currency", "fee": "fee", "value_date": "value_date", "batch_id": "batch"})
        rows = ["reference,our_reference,type,amount,currency,fee,value_date,batch"]
        for n, deposit in enumerate(paid):
            if n == unlisted:
                continue
            amount = deposit.money.amount - (Decimal("0.50") if n == 0 else 0)  # the first arrived short
            credit = deposit.credit_transaction
            assert credit is not None  # noqa: S101 - filtered on it above
            day = timezone.localtime(credit.occurred_at).date()
            rows.append(f"{deposit.provider_ref},{deposit.merchant_ref},payment,{amount},{deposit.currency},0,"
                        f"{day.isoformat()},")
        imp = settlement_import_start(actor=finance, provider=wire, data=("\n".join(rows) + "\n").encode(),
                                      file_name="bank-statement-demo.csv")
        counts = settlement_import_run(handle=None, import_id=imp.pk)
        self.stdout.write(f"wallet demo: bank statement reconciled: {counts}")

"""`manage.py portal_seed_demo_funded`: a second demo client of the trader's room, one who has been
through it already: registered, e-mail verified, identity verified (kyc.demo, as the checks would
approve it) and two bank wires confirmed by the bank's notification (wallet.demo), so that whoever
signs in sees a wallet with money, its history and statement, and can transfer to the live account
(opened by the approval's event once the platform answers) and ask for a withdrawal. One wire
withdrawal is already approved by the demo finance officer and waits in finance's queue to be paid
from the bank (the wire provider has no payout API), so finance sees that step too. The first demo
client (portal_seed_demo) stays a fresh registration, for the verification journey.

Runs after portal_seed_demo, kyc_seed_demo and wallet_seed_demo (consent documents, the KYC policy
and the bank-wire method must exist). Idempotent. Prints `LOGIN client_funded <email> <password>`."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from crm.lib.money import Money
from crm.models import Brand, RoleCode, User
from kyc.demo import demo_submission
from plumbing import context
from portal.management.commands.portal_seed_demo import DEMO_BRAND, demo_login_ensure
from wallet.demo import demo_wire_deposit, demo_wire_provider
from wallet.models import Direction, MethodKind, PaymentMethod, Withdrawal, WithdrawalState
from wallet.services import withdrawal_approve, withdrawal_payout_send, withdrawal_request

FUNDED_EMAIL = "dana.whitfield@demo-client.example"
FUNDED_PASSWORD = "harbor-compass-5176"  # noqa: S105 - a demo password, printed on purpose
WIRES = ((27, Decimal("2500")), (9, Decimal("1000")))  # days ago, USD
WITHDRAWAL = (Decimal("400"), "GB82 WEST 1234 5698 7654 32")  # USD, to the client's own account


def _demo_withdrawal(client: Any) -> Withdrawal | None:
    """A wire withdrawal asked for by the client and approved by the demo finance officer: the wire
    provider has no payout API, so it waits in the queue for finance to send it from the bank."""
    method = PaymentMethod.objects.filter(brand=client.brand, method=MethodKind.BANK_WIRE,
                                          direction=Direction.WITHDRAWAL, is_enabled=True).first()
    if method is None:
        return None
    amount, iban = WITHDRAWAL
    w = withdrawal_request(client=client, amount=Money(amount, "USD"), method=method,
                           destination={MethodKind.BANK_WIRE: iban})
    finance = (User.objects.filter(role__code=RoleCode.FINANCE, is_active=True)
               .filter(Q(brands=client.brand) | Q(all_brands=True)).distinct().order_by("pk").first())
    if w.state == WithdrawalState.REQUESTED and finance is not None:
        w = withdrawal_approve(withdrawal=w, actor=finance)
    if w.state == WithdrawalState.APPROVED:
        w = withdrawal_payout_send(withdrawal_id=w.pk)  # the queued task then finds it sent
    return w


class Command(BaseCommand):
    help = "Seed a verified demo client of the trader's room with money in the wallet. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(code=DEMO_BRAND).first()
        if brand is None:
            self.stdout.write("portal funded demo: skipped (no demo brand; run seed_demo first)")
            return
        login, created = demo_login_ensure(brand=brand, first_name="Dana", last_name="Whitfield", email=FUNDED_EMAIL,
                                           phone="+442071838456", born=date(1985, 9, 3), password=FUNDED_PASSWORD)
        if login is None:
            self.stderr.write("portal funded demo: the registration was not taken")
            return
        if created:
            client = login.client
            wire = demo_wire_provider()
            now = timezone.now()
            with context.acting_as(None, source="seed"):
                demo_submission(client=client, n=900, address="27 Harbour Row")
                for n, (days, amount) in enumerate(WIRES):
                    demo_wire_deposit(provider=wire, client=client, amount=Money(amount, "USD"),
                                      at=now - timedelta(days=days, hours=3), n=n)
                withdrawal = _demo_withdrawal(client)
            self.stdout.write(f"portal funded demo: {FUNDED_EMAIL} verified, {len(WIRES)} wires, "
                              f"a wire withdrawal {withdrawal.get_state_display().lower() if withdrawal else 'not offered'}")
        self.stdout.write(f"LOGIN client_funded {FUNDED_EMAIL} {FUNDED_PASSWORD}")

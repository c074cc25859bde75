"""The AML monitoring demo: each brand's rules with their default parameters (one version, in force for a
year), and a few deposit patterns of demo clients made through the wallet's deposit services (bank wires
confirmed by the bank's notification through the webhook handler, as demo money is) that the real rules
then find: structuring, a large single deposit, a client in a high-risk jurisdiction, a deposit paid
by someone else from abroad, a card shared by two clients. The alerts are
raised by compliance's own evaluation (compliance.services.aml_evaluate), not written here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from compliance.selectors import AML_DEFAULT_PARAMETERS, aml_brand_has_rules, restrictions_open
from compliance.services import aml_evaluate, aml_rule_create
from crm.exceptions import DomainError
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.money import Money
from crm.models import Brand, Client, Stage, User
from wallet.demo import demo_wire_deposit, demo_wire_methods, demo_wire_provider
from wallet.selectors import PayerDetails, payer_details

PORTAL_DEMO_EMAIL = "alex.morgan@demo-client.example"  # the trader's-room demo login keeps a clean record
NAMES = {
    "large_transaction": "Large single deposit or withdrawal",
    "structuring": "Structuring under 10,000",
    "rapid_in_out": "Deposit withdrawn within 3 days",
    "high_risk_jurisdiction": "Funds of clients in high-risk jurisdictions",
    "dormant_account": "Dormant account moving large amounts",
    "third_party_funding": "Deposits paid by someone else or from abroad",
    "many_instruments": "Many cards or accounts, or a payout to a new destination",
    "shared_instruments": "Cards or accounts shared with other clients",
    "over_declared": "Deposits beyond what the client declared",
    "provider_risk": "Crypto deposits the provider scores as risky",
}


def _candidates(brand: Brand) -> list[Client]:
    clients = (Client.objects.filter(brand=brand, stage__in=[Stage.FUNDED, Stage.ACTIVE])
               .exclude(email_hash__in=keyed_hashes(PORTAL_DEMO_EMAIL, kind="email")).order_by("id")[:60])
    return [c for c in clients if not restrictions_open(client=c)]


def aml_seed_demo(*, brand: Brand, officer: User | None) -> dict[str, Any] | None:
    """The brand's rules and demo patterns, once (None when the brand has rules already)."""
    if aml_brand_has_rules(brand_id=brand.pk):
        return None
    now = timezone.now()
    for kind, parameters in AML_DEFAULT_PARAMETERS.items():
        aml_rule_create(brand=brand, kind=kind, name=NAMES[kind], parameters=parameters, actor=officer,
                        effective_from=now - dt.timedelta(days=365))
    wire = demo_wire_provider()
    demo_wire_methods(brand=brand, wire=wire)
    clients = _candidates(brand)
    n = 0
    patterns: list[str] = []

    def wire_in(client: Client, amount: str, at: dt.datetime, payer: PayerDetails | None = None) -> bool:
        nonlocal n
        n += 1
        try:
            demo_wire_deposit(provider=wire, client=client, amount=Money(amount, "USD"), at=at, n=n, payer=payer)
        except DomainError:
            return False  # a client the brand does not take deposits from: the next one
        return True

    high_risk = {"NG", "SY", "YE", "HT", "VN", "IR", "KP", "MM"}
    risky = next((c for c in clients if c.country in high_risk), None)
    others = [c for c in clients if c is not risky]
    if others:
        smurf = others[0]
        if all(wire_in(smurf, amount, now - dt.timedelta(days=days))
               for amount, days in (("9400.00", 4), ("9700.00", 2), ("9900.00", 0.05))):
            patterns.append(f"structuring: {smurf.full_name}")
    if len(others) > 1 and wire_in(others[1], "25000.00", now - dt.timedelta(hours=3)):
        patterns.append(f"large deposit: {others[1].full_name}")
    if risky is not None and wire_in(risky, "3000.00", now - dt.timedelta(hours=5)):
        patterns.append(f"high-risk jurisdiction ({risky.country}): {risky.full_name}")
    # A deposit paid from a card in another name and country, and the same card then funding another client.
    card = "4000007840000001"
    if len(others) > 2:
        funded = others[2]
        stranger = payer_details(kind="card", name=f"Viktor {funded.last_name or 'Stranger'}", country="AE",
                                 number=card)
        if wire_in(funded, "2000.00", now - dt.timedelta(hours=6), stranger):
            patterns.append(f"third-party funding: {funded.full_name}")
    if len(others) > 3:
        sharer = others[3]
        own_name = payer_details(kind="card", name=f"{sharer.first_name} {sharer.last_name}", country="AE",
                                 number=card)
        if wire_in(sharer, "1500.00", now - dt.timedelta(hours=2), own_name):
            patterns.append(f"shared card: {sharer.full_name}")
    report = aml_evaluate(since=now - dt.timedelta(hours=1), until=timezone.now(), brand_id=brand.pk)
    return {"rules": len(AML_DEFAULT_PARAMETERS), "patterns": patterns, "alerts": len(report.raised)}

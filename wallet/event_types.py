"""The events the wallet will emit, declared before the app exists: the sales KPIs
(leads.kpis, first-time deposits per agent) and the automation playbook ("First deposit: notify
the agent") already read wallet.first_deposit, so this payload is the contract the wallet must
honour."""

from __future__ import annotations

from typing import TypedDict

from crm.event_catalogue import CodeText, DecimalText, declare


class FirstDeposit(TypedDict):
    deposit: CodeText  # the deposit's code in the wallet
    amount: DecimalText  # in `currency`, as credited (decimal text, never a float)
    currency: str  # ISO 4217 or the configured crypto/stablecoin code
    method: str  # the payment method or PSP (e.g. "card", "bank_transfer")


declare("wallet.first_deposit", payload=FirstDeposit,
        description="A client's first confirmed deposit: the client becomes funded, the owner gets an FTD.")

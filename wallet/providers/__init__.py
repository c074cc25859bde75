"""Payment provider adapters, by adapter kind, and the hooks accepted webhooks are handed to.

``ADAPTERS`` (a plumbing.hooks.Registry of plumbing.adapters.AdapterEntry, as the KYC vendors are)
holds one entry per kind (wallet.models.AdapterKind); ``adapter_build(kind, config)`` builds one
from a configured provider. ``webhook_handlers`` is where the deposit and withdrawal code
registers what to do with an accepted notification (see wallet.webhooks).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from plumbing import adapters
from plumbing.adapters import AdapterEntry
from plumbing.hooks import Registry
from wallet.providers.bank_wire import BankWireProvider
from wallet.providers.base import PaymentProvider, ProviderConfig
from wallet.providers.coinspaid import CoinsPaidProvider
from wallet.providers.paysafe import PaysafeProvider
from wallet.providers.praxis import PraxisProvider
from wallet.providers.simulator import SimulatorProvider
from wallet.providers.webhook_handlers import register_webhook_handler, webhook_handlers

ProviderEntry = AdapterEntry[PaymentProvider]

ADAPTERS: Registry[ProviderEntry] = Registry("Payment provider adapters", key=lambda a: a.code,
                                             order=lambda a: (a.order, a.code))
ADAPTERS.register(ProviderEntry(SimulatorProvider.kind, _("PSP simulator"), SimulatorProvider, order=0),
                  ProviderEntry(PraxisProvider.kind, _("Praxis Cashier"), PraxisProvider, order=10),
                  ProviderEntry(CoinsPaidProvider.kind, _("CoinsPaid"), CoinsPaidProvider, order=20),
                  ProviderEntry(PaysafeProvider.kind, _("Paysafe (Skrill, Neteller)"), PaysafeProvider, order=30),
                  ProviderEntry(BankWireProvider.kind, _("Bank wire"), BankWireProvider, order=100))


def adapter_class(kind: str) -> type[PaymentProvider] | None:
    entry = ADAPTERS.get(kind)
    return entry.adapter if entry is not None else None


def adapter_build(kind: str, config: ProviderConfig) -> PaymentProvider:
    from wallet.exceptions import ProviderNotConfigured

    return adapters.adapter_build(ADAPTERS, kind, config,
                                  missing=lambda: ProviderNotConfigured(f"No adapter of kind {kind!r}."))


__all__ = ["ADAPTERS", "ProviderEntry", "adapter_build", "adapter_class", "register_webhook_handler",
           "webhook_handlers"]

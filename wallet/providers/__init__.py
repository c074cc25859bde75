"""Payment provider adapters, by adapter kind, and the hooks accepted webhooks are handed to.

``ADAPTERS`` maps a kind (wallet.models.AdapterKind) to its class; ``adapter_for(provider)``
builds one from a configured provider. ``webhook_handlers`` is where the deposit and withdrawal
code registers what to do with an accepted notification (see wallet.webhooks).
"""

from __future__ import annotations

from wallet.providers.bank_wire import BankWireProvider
from wallet.providers.base import PaymentProvider, ProviderConfig
from wallet.providers.simulator import SimulatorProvider
from wallet.providers.webhook_handlers import register_webhook_handler, webhook_handlers

ADAPTERS: dict[str, type[PaymentProvider]] = {
    SimulatorProvider.kind: SimulatorProvider,
    BankWireProvider.kind: BankWireProvider,
}


def adapter_class(kind: str) -> type[PaymentProvider] | None:
    return ADAPTERS.get(kind)


def adapter_build(kind: str, config: ProviderConfig) -> PaymentProvider:
    from wallet.exceptions import ProviderNotConfigured

    cls = ADAPTERS.get(kind)
    if cls is None:
        raise ProviderNotConfigured(f"No adapter of kind {kind!r}.")
    return cls(config)


__all__ = ["ADAPTERS", "adapter_build", "adapter_class", "register_webhook_handler", "webhook_handlers"]

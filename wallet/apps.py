from __future__ import annotations

from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.registry import PlaybookRule, contribute

        contribute("wallet", playbook=[PlaybookRule({
            "name": "First deposit: notify the agent",
            "trigger": "wallet.first_deposit",
            "conditions": [],
            "actions": [{"type": "notify", "who": "owner", "title": "First deposit: {{ client.full_name }}",
                         "body": "{{ event.data.amount }} {{ event.data.currency }}"}],
        }, order=30)])

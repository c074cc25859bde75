from __future__ import annotations

from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "kyc"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.registry import contribute
        from kyc.playbook import RULES, TEMPLATES

        contribute("kyc", playbook=RULES, playbook_templates=TEMPLATES)

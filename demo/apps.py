from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo brokerage (`manage.py seed_demo`): data for people trying the CRM, built through the
    other apps' services. Nothing builds on it."""

    name = "demo"
    verbose_name = "Demo data"
    default_auto_field = "django.db.models.BigAutoField"

from __future__ import annotations

from django.apps import AppConfig


class IbConfig(AppConfig):
    name = "ib"
    default_auto_field = "django.db.models.BigAutoField"

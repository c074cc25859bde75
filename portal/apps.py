from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Trader's room"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.registry import contribute
        from crm.timeline import TimelineKind
        from portal import handlers  # noqa: F401  (subscribes to kyc.approved)

        contribute("portal", timeline=[TimelineKind("portal.registered", _("Registered in the trader's room"), "plus",
                                                    _registered_summary)])


def _registered_summary(event: Any) -> str:
    from django.utils.translation import gettext

    data = event.data or {}
    parts = [str(data.get("language", "")).upper()]
    if data.get("matched_lead"):
        parts.append(gettext("existing lead"))
    if (data.get("attribution") or {}).get("referrer_code"):
        parts.append(gettext("referred by %(code)s") % {"code": data["attribution"]["referrer_code"]})
    return " · ".join(p for p in parts if p)

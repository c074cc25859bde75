from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Trader's room")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.registry import TimelineKind, contribute
        from portal import handlers  # noqa: F401  (subscribes to kyc.approved)

        _lend_to_compliance_cases()
        from portal.erasure import register as erasure_register

        erasure_register()  # the client's login goes in an erasure (compliance.erasure)
        contribute("portal", timeline=[
            TimelineKind("portal.registered", _("Registered in the trader's room"), "plus", _registered_summary),
            # Staff see a verified client waiting for a live server (issue 58, item 3).
            TimelineKind("portal.live_account_waiting", _("Verified, waiting for a live trading server"), "clock",
                         _waiting_summary),
        ])


def _waiting_summary(event: Any) -> str:
    from django.utils.translation import gettext

    return gettext("The brand has no active server with live account types: the first live account opens "
                   "as soon as one is added.")


def _lend_to_compliance_cases() -> None:
    """A compliance case shows the client's sign-ins and the clients sharing an IP or a browser: the
    trader's room is above compliance, so it lends them through compliance's hook points."""
    from compliance.selectors import Link, LoginRow, register_login_source, register_related_source
    from portal.selectors import clients_sharing_network, sign_ins_for_client

    def logins(*, client: Any, limit: int) -> list[LoginRow]:
        return [LoginRow(at=s.signed_in_at, ip=s.ip or "", device=s.user_agent)
                for s in sign_ins_for_client(client=client, limit=limit)]

    def related(*, client: Any, limit: int) -> list[Link]:
        return [Link(client_id=pk, via=via, value=value)
                for pk, via, value in clients_sharing_network(client=client, limit=limit)]

    register_login_source(logins)
    register_related_source(related)


def _registered_summary(event: Any) -> str:
    from django.utils.translation import gettext

    data = event.data or {}
    parts = [str(data.get("language", "")).upper()]
    if data.get("matched_lead"):
        parts.append(gettext("existing lead"))
    if (data.get("attribution") or {}).get("referrer_code"):
        parts.append(gettext("referred by %(code)s") % {"code": data["attribution"]["referrer_code"]})
    return " · ".join(p for p in parts if p)

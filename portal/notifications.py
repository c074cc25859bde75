"""What a trader's-room notification says, made when it is shown, in the page's language (the
client's): a title and the lines under it, from the notification's kind and the event's data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext

from portal.models import Notification


@dataclass(frozen=True)
class Shown:
    title: str
    lines: list[str] = field(default_factory=list)
    link: str = ""


def _money(data: dict[str, Any], key: str = "amount") -> str:
    return f"{data.get(key, '')} {data.get('currency', '')}".strip()


def notification_shown(notification: Notification) -> Shown:  # noqa: C901, PLR0911  (one case per kind)
    data, kind = notification.data or {}, notification.kind
    if kind == "kyc.approved":
        return Shown(gettext("Your identity is verified"),
                     [gettext("Your live trading account is being opened.")], reverse("portal:home"))
    if kind == "kyc.rejected":
        lines = [str(h) for h in data.get("hints", [])]
        if data.get("client_reason"):
            lines.insert(0, str(data["client_reason"]))
        if data.get("can_resubmit"):
            lines.append(gettext("Please send new documents."))
        return Shown(gettext("We could not verify your identity"), lines, reverse("portal:kyc"))
    if kind == "kyc.info_requested":
        return Shown(gettext("We need more information for your verification"), [str(data.get("message", ""))],
                     reverse("portal:kyc"))
    if kind == "kyc.expiry_warned":
        return Shown(gettext("A document of yours is about to expire"),
                     [gettext("It expires on %(date)s. Please send a new one before then.")
                      % {"date": data.get("expires_on", "")}], reverse("portal:kyc"))
    if kind == "kyc.expired":
        return Shown(gettext("Your verification has expired"), [gettext("Please send new documents.")],
                     reverse("portal:kyc"))
    if kind == "trading.account_opened":
        title = (gettext("Your demo account %(login)s is open") if data.get("is_demo")
                 else gettext("Your live account %(login)s is open")) % {"login": data.get("login", "")}
        return Shown(title, [gettext("%(type)s, 1:%(leverage)s, %(currency)s on %(server)s.") % {
            "type": data.get("label", ""), "leverage": data.get("leverage", ""), "currency": data.get("currency", ""),
            "server": data.get("server_name", "")},
            gettext("We emailed you a link to see its password.")], reverse("portal:home"))
    if kind == "portal.live_account_refused":
        return Shown(gettext("We could not open your live account"),
                     [str(data.get("reason", "")), gettext("Our team has been told and will contact you.")],
                     reverse("portal:home"))
    if kind == "trading.leverage_changed":
        return Shown(gettext("The leverage of account %(login)s is now 1:%(leverage)s")
                     % {"login": data.get("login", ""), "leverage": data.get("to", "")}, [], reverse("portal:home"))
    if kind == "wallet.deposit_succeeded":
        return Shown(gettext("Your deposit of %(amount)s succeeded") % {"amount": _money(data)},
                     [gettext("%(amount)s is in your wallet.") % {"amount": _money(data, "credited")}],
                     reverse("portal:wallet"))
    titles = {
        "wallet.withdrawal_approved": gettext("Your withdrawal of %(amount)s is approved"),
        "wallet.withdrawal_paid": gettext("Your withdrawal of %(amount)s is paid"),
        "wallet.withdrawal_rejected": gettext("Your withdrawal of %(amount)s was rejected"),
        "wallet.withdrawal_failed": gettext("Your withdrawal of %(amount)s could not be paid"),
        "wallet.transfer_completed": gettext("Your transfer of %(amount)s is done"),
        "wallet.transfer_failed": gettext("Your transfer of %(amount)s failed"),
    }
    if kind in titles:
        lines = []
        if kind in ("wallet.withdrawal_rejected", "wallet.withdrawal_failed", "wallet.transfer_failed"):
            lines.append(gettext("The amount is available in your wallet again."))
        return Shown(titles[kind] % {"amount": _money(data)}, lines, reverse("portal:wallet"))
    return Shown(kind)

"""Template helpers for the staff UI: icons, flags, masking, local times, optional URLs."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language_info

from crm.lib.money import Money, MoneyError, amount_format, money_format

register = template.Library()

# Stroke icons drawn on a 24x24 grid; each value is the inner SVG markup.
_ICONS: dict[str, str] = {
    "home": '<path d="M3 11l9-7 9 7"/><path d="M5 10v10h14V10"/><path d="M10 20v-5h4v5"/>',
    "users": '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20c.8-3.6 3.4-5.5 6.5-5.5s5.7 1.9 6.5 5.5"/>'
             '<path d="M16 4.8a3.5 3.5 0 010 6.4"/><path d="M18 14.8c1.9.7 3.1 2.5 3.5 5.2"/>',
    "user": '<circle cx="12" cy="8" r="4"/><path d="M4 21c1-4 4-6 8-6s7 2 8 6"/>',
    "check": '<rect x="3.5" y="3.5" width="17" height="17" rx="4"/><path d="M8 12.5l2.8 2.8 5.7-5.8"/>',
    "tick": '<path d="M5 12.5l4.5 4.5L19 7.5"/>',
    "bell": '<path d="M6 16v-5a6 6 0 0112 0v5l1.5 2h-15z"/><path d="M10 20.5a2 2 0 004 0"/>',
    "alert": '<path d="M12 3.5l9.5 16.5h-19z"/><path d="M12 10v4"/><path d="M12 17h.01"/>',
    "shield": '<path d="M12 3l8 3v6c0 4.5-3.4 8-8 9-4.6-1-8-4.5-8-9V6z"/>',
    "key": '<circle cx="8" cy="15" r="4"/><path d="M11 12l9-9"/><path d="M17 6l3 3"/>',
    "search": '<circle cx="11" cy="11" r="6.5"/><path d="M16 16l4.5 4.5"/>',
    "menu": '<path d="M4 6h16M4 12h16M4 18h16"/>',
    "x": '<path d="M6 6l12 12M18 6L6 18"/>',
    "settings": '<path d="M4 7h10M18 7h2M4 17h4M12 17h8"/><circle cx="16" cy="7" r="2"/>'
                '<circle cx="10" cy="17" r="2"/>',
    "logout": '<path d="M14 4h5v16h-5"/><path d="M9 8l-4 4 4 4"/><path d="M5 12h10"/>',
    "note": '<path d="M5 3h10l4 4v14H5z"/><path d="M9 12h6M9 16h6"/>',
    "clock": '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
    "dot": '<circle cx="12" cy="12" r="3.5" fill="currentColor"/>',
    "plus": '<path d="M12 5v14M5 12h14"/>',
    "up": '<path d="M12 19V5M6 11l6-6 6 6"/>',
    "down": '<path d="M12 5v14M6 13l6 6 6-6"/>',
    "chevron": '<path d="M9 6l6 6-6 6"/>',
    "mail": '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="M3 7l9 6 9-6"/>',
    "phone": '<path d="M5 4h4l2 5-2.5 1.5a11 11 0 005 5L15 13l5 2v4a2 2 0 01-2 2A16 16 0 013 6a2 2 0 012-2z"/>',
    "flag": '<path d="M5 21V4h11l-2 4 2 4H5"/>',
    "eye": '<path d="M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12z"/><circle cx="12" cy="12" r="3"/>',
    "inbox": '<path d="M3 13h5l1.5 3h5l1.5-3h5"/><path d="M5.5 5h13l2.5 8v6H3v-6z"/>',
    "swap": '<path d="M7 4v16M3 8l4-4 4 4"/><path d="M17 20V4M13 16l4 4 4-4"/>',
    "link": '<path d="M10 14a4 4 0 005.7 0l3-3a4 4 0 00-5.7-5.7l-1 1"/>'
            '<path d="M14 10a4 4 0 00-5.7 0l-3 3a4 4 0 005.7 5.7l1-1"/>',
    "edit": '<path d="M4 20h4L19 9l-4-4L4 16z"/><path d="M13.5 6.5l4 4"/>',
    "share": '<circle cx="6" cy="12" r="2.5"/><circle cx="18" cy="6" r="2.5"/><circle cx="18" cy="18" r="2.5"/>'
             '<path d="M8.2 10.8l7.6-3.6M8.2 13.2l7.6 3.6"/>',
    "card": '<rect x="3" y="5.5" width="18" height="13" rx="2"/><path d="M3 10h18M7 15h3"/>',
    "chart": '<path d="M4 4v16h16"/><path d="M8 16v-4M12 16V8M16 16v-6"/>',
    "scale": '<path d="M12 4v16M7 20h10M5 7h14"/><path d="M5 7l-2.5 6a2.5 2.5 0 005 0zM19 7l-2.5 6a2.5 2.5 0 005 0z"/>',
    "lock": '<rect x="5" y="10.5" width="14" height="10" rx="2"/><path d="M8 10.5V7.5a4 4 0 018 0v3"/>',
    "image": '<rect x="3.5" y="4.5" width="17" height="15" rx="2"/><circle cx="9" cy="10" r="1.8"/><path d="M20.5 16l-5-5-9 8.5"/>',
    "refresh": '<path d="M19 8a8 8 0 10.5 7"/><path d="M20 4v4h-4"/>',
    "download": '<path d="M12 4v11M7 10l5 5 5-5M5 20h14"/>',
}


@register.simple_tag
def icon(name: str, size: int = 16, css: str = "") -> SafeString:
    """An inline SVG icon; unknown names fall back to a dot so a typo never breaks a page."""
    return _icon_markup(name if name in _ICONS else "dot", str(size), str(css))


@lru_cache(maxsize=512)
def _icon_markup(name: str, size: str, css: str) -> SafeString:
    """The markup of one (icon, size, class): a constant, built once per process."""
    body = _ICONS[name]
    return format_html(
        '<svg class="icon {}" width="{}" height="{}" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        'stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" '
        'focusable="false">{}</svg>',
        css, size, size, mark_safe(body),  # noqa: S308 - constant markup from _ICONS
    )


@register.filter
def flag(country: str | None) -> str:
    """ISO 3166-1 alpha-2 code -> flag emoji (regional indicator pair); '' for anything else."""
    code = (country or "").upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(ch) - ord("A")) for ch in code)


@register.filter
def language_name(code: str | None) -> str:
    """A language code shown as its name in the current UI language; the code when unknown."""
    if not code:
        return ""
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        base = code.split("-")[0].split("_")[0]
        try:
            return str(get_language_info(base)["name_translated"])
        except KeyError:
            return code


@register.filter
def masked_email(value: str | None) -> str:
    from crm.selectors import mask_email

    return mask_email(value or "") if value else ""


@register.filter
def masked_phone(value: str | None) -> str:
    from crm.selectors import mask_phone

    return mask_phone(value or "") if value else ""


@register.filter
def initials(user: Any) -> str:
    name = (getattr(user, "full_name", "") or getattr(user, "email", "") or "?").strip()
    parts = [p for p in name.replace("@", " ").split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


def _zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


@register.simple_tag
def local_time(tzname: str | None, now: datetime | None = None) -> str:
    """The current wall-clock time in `tzname` ("14:05"), or '' when the zone is unknown."""
    zone = _zone(tzname)
    if zone is None:
        return ""
    return (now or timezone.now()).astimezone(zone).strftime("%H:%M")


@register.simple_tag
def url_if_exists(name: str, *args: Any) -> str:
    """reverse(name) or '' when no app provides that URL (optional links between apps)."""
    try:
        return reverse(name, args=args or None)
    except NoReverseMatch:
        return ""


@register.inclusion_tag("crm/notifications/_bell.html", takes_context=True)
def notification_bell(context: template.Context) -> dict[str, Any]:
    from crm.views.notifications import bell_context

    request = context.get("request")
    return bell_context(request.user) if request is not None else {"unread": 0, "newest": None}



@register.simple_tag(takes_context=True)
def shell_visible(context: template.Context) -> bool:
    """Whether the page gets the app shell (top bar, navigation): signed-in users past any 2FA step.

    A page can also opt out by putting `hide_shell` in its context (login, 2FA challenge)."""
    if context.get("hide_shell"):
        return False
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return False
    if getattr(user, "requires_2fa", False):
        is_verified = getattr(user, "is_verified", None)
        if callable(is_verified) and not is_verified():
            return False
    return True


@register.filter
def nav_active(item_url: str, path: str) -> bool:
    """The nav entry for `item_url` is the current section: exact match for "/", prefix otherwise."""
    if not item_url or not path:
        return False
    if item_url == "/":
        return path == "/"
    return path == item_url or path.startswith(item_url.rstrip("/") + "/")


@register.simple_tag(takes_context=True)
def nav_links(context: template.Context) -> SafeString:
    """The side navigation's entries (`nav_items`, crm.context_processors), the current section
    marked: written here rather than by a template loop, as the menu is on every page."""
    request = context.get("request")
    path = getattr(request, "path", "")
    parts = []
    for item in context.get("nav_items") or ():
        url = item["url"]
        current = ' aria-current="page"' if nav_active(url, path) else ""
        parts.append(f'\n          <li><a href="{conditional_escape(url)}"{current}>{icon(item["icon"] or "dot", 18)}'
                     f'<span>{conditional_escape(item["label"])}</span></a></li>')
    return mark_safe("".join(parts))  # noqa: S308 - the URL and the label are escaped


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """mapping[key] in a template (None when absent)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def is_overdue(task: Any) -> bool:
    return bool(task.done_at is None and task.due_at is not None and task.due_at < timezone.now())


@register.filter
def money(amount: Any, currency: str | None = None) -> str:
    """``{{ account.balance|money:account.currency }}`` (or ``{{ deposit.money|money }}`` for a Money):
    the amount at the currency's decimals in the active language's format, with the code
    ("0.00500000 BTC", "1,000 JPY"); "—" when there is none."""
    if amount is None or amount == "":
        return "—"
    if isinstance(amount, Money):
        return money_format(amount)
    if currency is None:  # a bare number with no currency to place it by
        return str(amount)
    # A stored value the table cannot place (a currency removed from the setting) still shows.
    return amount_format(amount, currency)


@register.filter
def money_number(amount: Any, currency: str) -> str:
    """Like `money`, without the code, for sentences that place the code themselves."""
    if amount is None or amount == "":
        return "—"
    try:
        return money_format(Money(amount, currency)).rsplit("\u00a0", 1)[0]
    except MoneyError:
        return str(amount)


@register.filter
def plain_number(value: Any) -> str:
    """A stored decimal as typed, without the trailing zeros of its column's scale: 1.5000000000 → 1.5."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value)).normalize()
    except ArithmeticError:
        return str(value)
    return f"{number:f}"

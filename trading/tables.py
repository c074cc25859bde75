"""Tables of trading's lists (django-tables2, on crm.views.ui.listing's base): the dealer's deals."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.templatetags.crm_ui import money
from crm.views.ui.listing import Column, ListTable
from trading.models import Deal, DealEntry

NUM = {"cell": {"class": "num"}}


class DealTable(ListTable):
    """Deals as the platform reported them; a deal deleted on the platform stays, greyed and marked."""

    card_labels = False
    older_label = _("Older deals")

    time = Column(verbose_name=_("Time"), empty_values=(), attrs={"td": {"class": "num"}})
    server = Column(verbose_name=_("Server"), empty_values=())
    login = Column(verbose_name=_("Login"), empty_values=(), attrs={"td": {"class": "mono"}})
    client = Column(verbose_name=_("Client"), empty_values=())
    deal = Column(verbose_name=_("Deal"), empty_values=(), attrs={"td": {"class": "mono"}})
    kind = Column(verbose_name=_("Kind"), empty_values=())
    symbol = Column(verbose_name=_("Symbol"), default="—")
    entry = Column(verbose_name=_("Entry"), empty_values=())
    lots = Column(verbose_name=_("Lots"), empty_values=(), attrs=NUM)
    price = Column(verbose_name=_("Price"), empty_values=(), attrs=NUM)
    market = Column(verbose_name=_("Market bid / ask"), empty_values=(), attrs=NUM)
    profit = Column(verbose_name=_("Profit"), empty_values=(), attrs=NUM)
    reason = Column(verbose_name=_("Reason"), empty_values=())

    class Meta(ListTable.Meta):
        attrs = {"class": "table"}
        row_attrs = {"class": lambda record: "muted" if record.deleted_at else None}

    def __init__(self, data: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self._deleted = format_html(' <span class="badge badge-danger">{}</span>', gettext("deleted"))

    def render_time(self, record: Deal) -> str:
        return date_format(localtime(record.time), "SHORT_DATETIME_FORMAT")

    def render_server(self, record: Deal) -> str:
        return record.server.name

    def render_login(self, record: Deal) -> int:
        return record.login

    def render_client(self, record: Deal) -> SafeString:
        client = record.account.client
        return format_html('<a href="{}?tab=trading">{}</a>', reverse("client_detail", args=[client.code]),
                           client.full_name)

    def render_deal(self, record: Deal) -> int:
        return record.deal_id

    def render_kind(self, record: Deal) -> SafeString:
        return format_html("{}{}", record.get_kind_display(), self._deleted if record.deleted_at else "")

    def render_entry(self, record: Deal) -> str:
        return "" if record.entry == DealEntry.NONE else f"{record.get_entry_display()} {record.side}"

    def render_lots(self, record: Deal) -> str:
        return str(record.volume.normalize()) if record.volume else ""

    def render_price(self, record: Deal) -> str:
        return str(record.price.normalize()) if record.price else ""

    def render_market(self, record: Deal) -> str:
        if not record.market_bid or record.market_ask is None:
            return ""
        return f"{record.market_bid.normalize()} / {record.market_ask.normalize()}"

    def render_profit(self, record: Deal) -> str:
        return money(record.money_effect, record.account.currency)

    def render_reason(self, record: Deal) -> str:
        return record.reason_label

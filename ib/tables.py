"""The partner list's table (django-tables2, on crm.views.ui.listing's base)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from crm.views.ui.listing import Column, ListTable
from ib.models import Partner


class PartnerTable(ListTable):
    name = Column(verbose_name=_("Partner"), empty_values=())
    kind = Column(verbose_name=_("Kind"), empty_values=())
    status = Column(verbose_name=_("Status"), empty_values=())
    parent = Column(verbose_name=_("Parent"), empty_values=())
    level = Column(verbose_name=_("Level"), empty_values=(), attrs={"td": {"class": "num"}})
    brand = Column(verbose_name=_("Brand"), empty_values=())
    created = Column(verbose_name=_("Joined"), empty_values=(), attrs={"td": {"class": "num"}})

    def render_name(self, record: Partner) -> SafeString:
        return format_html('<a href="{}">{}</a>', reverse("ib_partner_detail", args=[record.code]), record.display_name)

    def render_kind(self, record: Partner) -> str:
        return str(record.get_kind_display())

    def render_status(self, record: Partner) -> SafeString:
        return format_html('<span class="badge">{}</span>', record.get_status_display())

    def render_parent(self, record: Partner) -> str:
        return record.parent.display_name if record.parent else "—"

    def render_level(self, record: Partner) -> int:
        return record.depth

    def render_brand(self, record: Partner) -> str:
        return record.brand.name

    def render_created(self, record: Partner) -> str:
        return date_format(localtime(record.created_at), "SHORT_DATE_FORMAT")

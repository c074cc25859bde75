"""Tables of crm's lists (django-tables2, on crm.views.ui.listing's base): the client list and the audit log.
Cells are formatted here, once per row, so templates only place the table."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils.formats import get_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm import selectors
from crm.audit import DiffLine, audit_diff, audit_objects_named, audit_rows_shown
from crm.lib.dates import date_formatter
from crm.models import AuditLog, Stage
from crm.templatetags.crm_ui import flag
from crm.views.ui.listing import Column, ListTable
from plumbing.markup import esc

# --- the client list -----------------------------------------------------------------------------

CLIENT_DEFAULT_SORT = "-created"
ROW_TAGS_SHOWN = 3
_NO_CODE = uuid.UUID(int=0)


def _created_title(record: Any) -> str:
    return str(record.list_dates[1])


def _updated_title(record: Any) -> str:
    return str(record.list_dates[3])


class ClientTable(ListTable):
    """Clients with their contact details masked, dates in the viewer's time zone and language.
    Sorting ends on the id, so that pages neither skip nor repeat rows."""

    capped_note = _("Narrow the filters to see further clients.")
    # The names each row carries as its own columns (the list annotates them: fifty clients then make
    # fifty instances, not a hundred and fifty).
    ROW_NAMES = {"list_brand_name": "brand__name", "list_owner_name": "owner__full_name",
                 "list_owner_email": "owner__email"}

    # A tick box for the list's bulk assignment (shown only to those who may assign): it belongs to
    # the "client-assign" form above the table.
    select = Column(verbose_name=_("Select"), empty_values=(), attrs={"td": {"class": "col-select", "data-label": None},
                                                                     "th": {"class": "col-select"}})
    name = Column(verbose_name=_("Name"), order_by=("last_name", "first_name", "id"), empty_values=(), orderable=True,
                         attrs={"td": {"class": "col-name", "data-label": None}})
    stage = Column(verbose_name=_("Stage"), order_by=("stage", "id"), empty_values=(), orderable=True)
    email = Column(verbose_name=_("Email"), empty_values=())
    phone = Column(verbose_name=_("Phone"), empty_values=())
    country = Column(verbose_name=_("Country"), order_by=("country", "id"), empty_values=(), orderable=True,
                            attrs={"td": {"class": "nowrap"}})
    brand = Column(verbose_name=_("Brand"), empty_values=())
    owner = Column(verbose_name=_("Owner"), empty_values=(), attrs={"td": {"class": "nowrap"}})
    created = Column(verbose_name=_("Created"), order_by=("created_at", "id"), empty_values=(),
                            orderable=True, initial_sort_descending=True,
                            attrs={"td": {"class": "nowrap num", "title": _created_title}})
    updated = Column(verbose_name=_("Updated"), order_by=("updated_at", "id"), empty_values=(),
                            orderable=True, initial_sort_descending=True,
                            attrs={"td": {"class": "nowrap num", "title": _updated_title}})

    def __init__(self, data: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        # Translated once per table, not once per row.
        self._stage_labels = {value: esc(label) for value, label in Stage.choices}
        self._unassigned = f'<span class="subtle">{esc(gettext("Unassigned"))}</span>'
        # The profile's URL around the code, reversed once rather than once per row.
        self._profile_url = [esc(part) for part in reverse("client_detail", args=[_NO_CODE]).split(str(_NO_CODE))]

    # The cells are written with f-strings and esc() (every value escaped): this table is the one
    # whose fifty rows are on the client list's time budget.

    def render_name(self, record: Any) -> SafeString:
        head, tail = self._profile_url
        link = f'<a href="{head}{record.code}{tail}" dir="auto">{esc(record.full_name)}</a>'
        tags = record.tags[:ROW_TAGS_SHOWN]
        if tags:
            badges = "".join(f'<span class="badge tag">{esc(tag)}</span>' for tag in tags)
            link += f'\n            <div class="tags mt-4">{badges}</div>'
        return SafeString(link)

    def render_select(self, record: Any) -> SafeString:
        return SafeString(f'<input type="checkbox" name="clients" value="{record.code}" form="client-assign" '
                          f'aria-label="{esc(record.full_name)}">')

    def render_stage(self, record: Any) -> SafeString:
        stage = esc(record.stage)
        return SafeString(f'<span class="badge stage-{stage}">{self._stage_labels.get(record.stage, stage)}</span>')

    def render_email(self, record: Any) -> SafeString:
        return SafeString(f'<span class="mono">{esc(selectors.mask_email(record.email))}</span>')

    def render_phone(self, record: Any) -> SafeString:
        return SafeString(f'<bdi class="mono" dir="ltr">{esc(selectors.mask_phone(record.phone))}</bdi>')

    def render_country(self, record: Any) -> SafeString | str:
        if not record.country:
            return ""
        return SafeString(f'<span><span class="flag-emoji" aria-hidden="true">{esc(flag(record.country))}</span> '
                          f'{esc(record.country)}</span>')

    def render_brand(self, record: Any) -> str:
        return str(record.list_brand_name)

    def render_owner(self, record: Any) -> SafeString | str:
        if not record.owner_id:
            return SafeString(self._unassigned)
        return str(record.list_owner_name or record.list_owner_email)

    def prepare_records(self, records: list[Any]) -> list[Any]:
        # Both dates of each row in the viewer's time zone and language, read once: (created, its
        # title, updated "3 hours ago", its title). The formats are looked up once per page.
        short, full = date_formatter(get_format("SHORT_DATE_FORMAT")), date_formatter(get_format("DATETIME_FORMAT"))
        for record in records:
            created = localtime(record.created_at)
            record.list_dates = (short(created), full(created), str(naturaltime(record.updated_at)),
                                 full(localtime(record.updated_at)))
        return records

    def render_created(self, record: Any) -> str:
        return str(record.list_dates[0])

    def render_updated(self, record: Any) -> str:
        return str(record.list_dates[2])


# --- the audit log -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownLine:
    key: str
    before: str
    after: str
    changed: bool


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _shown(lines: list[DiffLine]) -> list[ShownLine]:
    # Contact data is masked here as on every other page (a reveal is per client, logged, and not
    # offered in the log).
    return [ShownLine(line.key, _show(selectors.mask_personal(line.before, line.key)),
                      _show(selectors.mask_personal(line.after, line.key)), line.changed) for line in lines]


@dataclass(frozen=True)
class AuditEntry:
    row: AuditLog
    diff: list[ShownLine]
    name: str = ""  # the object's name, when it still exists
    url: str = ""  # its page, when the viewer may open it


def _cut(text: str) -> str:
    return Truncator(text).chars(200)


class AuditTable(ListTable):
    """Audit rows with each change's before and after, and the object by name (a link when the
    viewer may open it)."""

    when = Column(verbose_name=_("When"), empty_values=(), attrs={"td": {"class": "nowrap num"}})
    actor = Column(verbose_name=_("Actor"), empty_values=())
    action = Column(verbose_name=_("Action"), empty_values=(), attrs={"td": {"class": "mono"}})
    target = Column(verbose_name=_("Object"), empty_values=())
    diff = Column(verbose_name=_("Before → after"), empty_values=())
    reason = Column(verbose_name=_("Reason"), empty_values=(), attrs={"td": {"class": "wrap-anywhere"}})

    class Meta(ListTable.Meta):
        attrs = {"class": "table table-cards audit-table"}
        row_attrs = {"id": lambda record: f"audit-{record.row.pk}"}

    def __init__(self, data: Any, *, viewer: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.viewer = viewer
        self._request_id_label = gettext("Request id")

    def prepare_records(self, records: list[Any]) -> list[Any]:
        records = audit_rows_shown(records)  # what apps mask (an erased client's names); the rows stay as hashed
        named = audit_objects_named(self.viewer, [(row.object_type, row.object_id) for row in records])
        entries = []
        for row in records:
            name, url = named.get((row.object_type, row.object_id), ("", ""))
            entries.append(AuditEntry(row, _shown(audit_diff(row.before, row.after)), name=name, url=url))
        return entries

    def render_when(self, record: AuditEntry) -> SafeString:
        at = localtime(record.row.at)
        if not hasattr(self, "_when_formats"):
            self._when_formats = (date_formatter(get_format("DATETIME_FORMAT")),
                                  date_formatter(get_format("SHORT_DATETIME_FORMAT")))
        full, short = self._when_formats
        return format_html('<span title="{}">{}</span>\n            <div class="subtle">#{}</div>',
                           full(at), short(at), record.row.pk)

    def render_actor(self, record: AuditEntry) -> SafeString:
        row = record.row
        ip = format_html(' · <bdi class="mono">{}</bdi>', row.ip) if row.ip else ""
        request_id = format_html('<div class="subtle mono" title="{}">{}</div>', self._request_id_label,
                                 Truncator(row.request_id).chars(14)) if row.request_id else ""
        return format_html('{}\n            <div class="subtle">{}{}</div>{}', row.actor_label, row.source, ip,
                           request_id)

    def render_action(self, record: AuditEntry) -> str:
        return record.row.action

    def render_target(self, record: AuditEntry) -> SafeString | str:
        row = record.row
        if record.name:
            name = (format_html('<a href="{}" dir="auto">{}</a>', record.url, record.name) if record.url
                    else format_html("<bdi>{}</bdi>", record.name))
            return format_html('{}\n              <div class="subtle mono wrap-anywhere" title="{}">{}</div>', name,
                               row.object_id, row.object_type)
        if row.object_type or row.object_id:
            shown = f"{row.object_type}:{row.object_id}" if row.object_id else row.object_type
            return format_html('<span class="mono wrap-anywhere">{}</span>', shown)
        return ""

    def render_diff(self, record: AuditEntry) -> SafeString | str:
        if not record.diff:
            return ""
        lines = []
        for line in record.diff:
            key = format_html('<th scope="row" class="mono">{}</th>', line.key) if line.key else ""
            if line.changed:
                before = format_html("<del>{}</del>", _cut(line.before)) if line.before else ""
                after = format_html("<ins>{}</ins>", _cut(line.after)) if line.after else ""
                lines.append(format_html(
                    '<tr class="diff-changed">{}<td class="diff-before mono">{}</td>'
                    '<td class="diff-after mono">{}</td></tr>', key, before, after))
            else:
                lines.append(format_html('<tr>{}<td class="mono" colspan="2">{}</td></tr>', key, _cut(line.after)))
        return format_html('<table class="diff">{}</table>', format_html_join("", "{}", ((x,) for x in lines)))

    def render_reason(self, record: AuditEntry) -> str:
        return record.row.reason

"""The automation run log's table (django-tables2, on crm.views.ui.listing's base). Cells are formatted
here, once per row, so templates only place the table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template.loader import get_template
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from automation import services as automation
from crm.events import events_by_id
from crm.templatetags.crm_ui import icon
from crm.views.ui.listing import Column, ListTable


@dataclass
class RunView:
    run: Any
    explanation: str
    checks: list[dict[str, Any]]
    actions: list[dict[str, Any]]


def run_view(run: Any) -> RunView:
    why = run.why or {}
    checks = [{**c, "text": automation.check_text(c)} for c in why.get("conditions", [])]
    actions = [{**a, "status_label": automation.action_status_label(a.get("status", ""))}
               for a in why.get("actions", [])]
    return RunView(run=run, explanation=automation.run_explanation(run), checks=checks, actions=actions)


_STATUS_BADGES = {"fired": "badge badge-success", "failed": "badge badge-danger", "scheduled": "badge badge-warning"}


class RunTable(ListTable):
    """What each rule made of each event: fired, skipped (which condition failed) or failed."""

    when = Column(verbose_name=_("When"), empty_values=(), attrs={"td": {"class": "nowrap num",
                                                                                "data-label": None}})
    rule = Column(verbose_name=_("Rule"), empty_values=(), attrs={"td": {"class": "col-name"}})
    client = Column(verbose_name=_("Client"), empty_values=())
    event = Column(verbose_name=_("Event"), empty_values=())
    status = Column(verbose_name=_("Status"), empty_values=())
    why = Column(verbose_name=_("Why"), empty_values=())

    class Meta(ListTable.Meta):
        row_attrs = {"id": lambda record: f"run-{record.run.pk}"}

    def __init__(self, data: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self._why = get_template("automation/_run_why.html")
        self._due_label = gettext("Due")

    def prepare_records(self, records: list[Any]) -> list[Any]:
        runs = list(records)
        shown = events_by_id(run.event_id for run in runs)
        for run in runs:
            if run.event_id in shown:
                run.event = shown[run.event_id]
            run.event_archived = run.event_id not in shown
        return [run_view(run) for run in runs]

    def render_when(self, record: RunView) -> str:
        return date_format(localtime(record.run.created_at), "SHORT_DATETIME_FORMAT")

    def render_rule(self, record: RunView) -> SafeString:
        rule = record.run.rule
        return format_html('<a href="{}">{}</a>', reverse("automation_rule_edit", args=[rule.code]), rule.name)

    def render_client(self, record: RunView) -> SafeString:
        client = record.run.client
        if client is None:
            return format_html('<span class="subtle">—</span>')
        return format_html('<a href="{}">{}</a>', reverse("client_detail", args=[client.code]), client.full_name)

    def render_event(self, record: RunView) -> SafeString:
        run = record.run
        if run.event_archived:  # its month is past the event retention, in the archive
            return format_html('<span class="badge">{}</span><div class="subtle num">#{}</div>',
                               gettext("event archived"), run.event_id)
        return format_html('<span class="mono">{}</span><div class="subtle num">#{} · {}</div>', run.event.name,
                           run.event_id, date_format(localtime(run.event.occurred_at), "SHORT_DATETIME_FORMAT"))

    def render_status(self, record: RunView) -> SafeString:
        run = record.run
        badge = format_html('<span class="{}">{}</span>', _STATUS_BADGES.get(run.status, "badge"),
                            run.get_status_display())
        if not run.scheduled_for:
            return badge
        return format_html('{}\n            <div class="subtle num" title="{}">{} {}</div>', badge, self._due_label,
                           icon("clock", 12), date_format(localtime(run.scheduled_for), "SHORT_DATETIME_FORMAT"))

    def render_why(self, record: RunView) -> str:
        return self._why.render({"v": record})  # safe: a rendered template

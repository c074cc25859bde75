"""Failed and dead event deliveries, for administrators: see what went wrong and retry it.

Everyone else gets 404. One template serves the page, the filtered table (htmx) and a single
row after its Retry button was pressed (htmx swaps the row).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from crm import events
from crm.exceptions import DomainError, NotFound
from crm.lib.forms import form_field
from crm.models import DeliveryStatus, EventDelivery
from crm.permissions import AuthedRequest
from crm.views.staff import administrator_required
from crm.views.ui import render_page, safe_next, wants_partial

PAGE_SIZE = 50
ERROR_EXCERPT = 160
TEMPLATE = "crm/deliveries/delivery_list.html"


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"), required=False,
        choices=[("", gettext_lazy("Failed or dead")),
                 (DeliveryStatus.FAILED, DeliveryStatus.FAILED.label),
                 (DeliveryStatus.DEAD, DeliveryStatus.DEAD.label)],
    )
    handler = forms.ChoiceField(label=gettext_lazy("Handler"), required=False)

    def __init__(self, *args: Any, handlers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "handler", forms.ChoiceField).choices = [("", _("All handlers")), *((h, h) for h in handlers)]
        for field in self.fields.values():
            field.widget.attrs["class"] = "input"

    def values(self) -> dict[str, str]:
        if not self.is_bound or not self.is_valid():
            return {"status": "", "handler": ""}
        return {"status": self.cleaned_data["status"], "handler": self.cleaned_data["handler"]}


class IdListField(forms.Field):
    """The ids of the rows shown on one page (any id: the service retries only failed and dead ones)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        try:
            ids = sorted({int(v) for v in value})
        except (TypeError, ValueError):
            raise forms.ValidationError(_("Invalid delivery id."), code="invalid") from None
        if len(ids) > PAGE_SIZE:
            raise forms.ValidationError(_("Too many deliveries at once."), code="too_many")
        return ids


class RetryAllForm(forms.Form):
    ids = IdListField()


@administrator_required
@require_GET
def delivery_list(request: AuthedRequest) -> HttpResponse:
    form = DeliveryFilterForm(request.GET or None, handlers=events.delivery_problem_handlers())
    filters = form.values()
    page = Paginator(events.delivery_problems(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    deliveries = [_with_excerpt(d) for d in events.deliveries_with_events(list(page.object_list))]
    context = {
        "form": form,
        "page_obj": page,
        "deliveries": deliveries,
        "next_url": request.get_full_path(),
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "filtered": any(filters.values()),
        "max_attempts": settings.CRM_EVENT_MAX_ATTEMPTS,
    }
    return render_page(request, TEMPLATE, context, partial="delivery-table")


def _with_excerpt(delivery: EventDelivery) -> EventDelivery:
    """The error's last line (the exception and its message), short enough for a table cell."""
    lines = [line for line in delivery.last_error.strip().splitlines() if line.strip()]
    excerpt = lines[-1].strip() if lines else ""
    delivery.error_excerpt = excerpt if len(excerpt) <= ERROR_EXCERPT else excerpt[: ERROR_EXCERPT - 1] + "…"  # type: ignore[attr-defined]  # for the table only
    return delivery


def _delivery(delivery_id: int) -> EventDelivery:
    delivery = EventDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404
    return _with_excerpt(events.deliveries_with_events([delivery])[0])


@administrator_required
@require_POST
def delivery_retry(request: AuthedRequest, delivery_id: int) -> HttpResponse:
    """Run one delivery again now; htmx gets the refreshed row, a plain form post a redirect."""
    next_url = safe_next(request, request.POST.get("next"), _list_url())
    try:
        ok = events.delivery_retry_now(delivery_id=delivery_id)
    except NotFound:
        raise Http404 from None
    except DomainError as exc:  # its event was archived
        messages.error(request, exc.message)
        if wants_partial(request):
            return render_page(request, TEMPLATE, {
                "d": _delivery(delivery_id), "next_url": next_url, "max_attempts": settings.CRM_EVENT_MAX_ATTEMPTS,
            }, partial="delivery-row")
        return redirect(next_url)
    if wants_partial(request):
        return render_page(request, TEMPLATE, {
            "d": _delivery(delivery_id), "retried": True, "retry_ok": ok, "next_url": next_url,
            "max_attempts": settings.CRM_EVENT_MAX_ATTEMPTS,
        }, partial="delivery-row")
    if ok:
        messages.success(request, _("The delivery succeeded."))
    else:
        messages.error(request, _("The handler failed again; the new error is shown."))
    return redirect(next_url)


@administrator_required
@require_POST
def delivery_retry_all(request: AuthedRequest) -> HttpResponse:
    """Queue every delivery shown on the page for a retry by a worker."""
    form = RetryAllForm(request.POST)
    if form.is_valid():
        queued = events.delivery_retry_schedule(delivery_ids=form.cleaned_data["ids"])
        messages.success(request, ngettext(
            "%(count)d delivery was queued for retry.", "%(count)d deliveries were queued for retry.", queued,
        ) % {"count": queued})
    else:
        messages.error(request, _("There was nothing to retry."))
    return redirect(safe_next(request, request.POST.get("next"), _list_url()))


def _list_url() -> str:
    return reverse("delivery_list")

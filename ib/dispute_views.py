"""The IB manager's dispute pages: the queue of partners' questions about commission lines, and one
dispute with the line's whole trace beside it and the form that answers it. Thin: parse, fetch and
authorise, call one service of ib.disputes, render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.exceptions import DomainError, NotFound
from crm.lib.paginator import CappedPaginator
from crm.permissions import AuthedRequest, page_permission_required
from crm.views.ui import render_page
from crm.views.ui.forms import PlainSelect, apply_domain_errors
from ib import disputes
from ib.commissions import MANAGE
from ib.forms import DisputeDecideForm
from ib.models import DisputeState

DISPUTES_PER_PAGE = 50


class DisputeFilter(forms.Form):
    state = forms.ChoiceField(label=_("State"), required=False, widget=PlainSelect,
                              choices=[("", _("Open")), ("all", _("All")), *DisputeState.choices])


@page_permission_required(MANAGE)
@require_GET
def dispute_list(request: AuthedRequest) -> HttpResponse:
    form = DisputeFilter(request.GET or None)
    state = form.cleaned_data.get("state") if form.is_valid() else ""
    qs = disputes.dispute_queryset_for_user(request.user)
    if not state:
        qs = qs.filter(state=DisputeState.OPEN).order_by("opened_at", "id")
    else:
        if state != "all":
            qs = qs.filter(state=state)
        qs = qs.order_by("-opened_at", "-id")
    page = CappedPaginator(qs, DISPUTES_PER_PAGE).get_page(request.GET.get("page"))
    return render_page(request, "ib/dispute_list.html", {
        "filter": form, "page": page, "rows": disputes.dispute_rows(page.object_list)})


@page_permission_required(MANAGE)
@require_http_methods(["GET", "POST"])
def dispute_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    try:
        dispute = disputes.dispute_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None
    form = DisputeDecideForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                disputes.dispute_decide(actor=request.user, dispute=dispute,
                                        upheld=form.cleaned_data["outcome"] == "upheld",
                                        answer=form.cleaned_data["answer"])
            except NotFound:
                raise Http404 from None
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("Answered. The partner reads it in the partner portal."))
                return HttpResponseRedirect(reverse("ib_dispute_detail", args=[dispute.code]))
    view = disputes.dispute_view(dispute)
    return render_page(request, "ib/dispute_detail.html", {
        "view": view, "dispute": view.dispute, "x": view.explained,
        "line": view.explained.line if view.explained else None, "partner": dispute.partner,
        "form": form if dispute.state == DisputeState.OPEN else None}, status=status)

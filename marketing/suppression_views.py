"""The suppression list's page: the addresses of the user's brands that no marketing goes to (hard
bounces and complaints reported by the mail provider, staff's own), found by address, added by hand
and lifted with a reason. Read with "marketing.view_suppression" (marketing, compliance,
administrators); added with "marketing.add_suppression" and lifted with "marketing.delete_suppression"
(marketing and administrators)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.exceptions import NotFound, ValidationFailed
from crm.permissions import AuthedRequest, user_can, visible_brands
from marketing.consent import suppress, suppression_lift
from marketing.models import Channel, SuppressionReason
from marketing.selectors import suppression_get_for_user, suppressions_for_user

VIEW = "marketing.view_suppression"
ADD = "marketing.add_suppression"
LIFT = "marketing.delete_suppression"


def _may(request: AuthedRequest, permission: str) -> bool:
    return bool(request.user.is_active and user_can(request.user, permission))


@login_required
@require_http_methods(["GET", "POST"])
def suppression_list(request: AuthedRequest) -> HttpResponse:
    if not _may(request, VIEW):
        raise Http404
    brands = visible_brands(request.user)
    errors: dict[str, list[str]] = {}
    values = {"brand": "", "channel": Channel.EMAIL, "address": ""}
    if request.method == "POST":
        if not _may(request, ADD):
            raise Http404
        values = {k: str(request.POST.get(k, "")).strip() for k in values}
        brand = brands.filter(pk=values["brand"]).first() if values["brand"].isdigit() else None
        if brand is None:
            errors["brand"] = [_("Choose a brand.")]
        else:
            try:
                suppress(brand=brand, address=values["address"], channel=values["channel"],
                         reason=SuppressionReason.MANUAL, source=_("Added by %(name)s") % {
                             "name": request.user.full_name or request.user.email}, actor=request.user)
            except ValidationFailed as error:
                errors = {k: [str(m) for m in v] for k, v in error.fields.items()} or {"address": [str(error.message)]}
            else:
                messages.success(request, _("The address gets no marketing from now on."))
                return redirect(reverse("marketing_suppressions"))
    query = str(request.GET.get("q", "")).strip()[:254]
    channel = str(request.GET.get("channel", ""))
    page = Paginator(suppressions_for_user(request.user, address=query, channel=channel), 50).get_page(request.GET.get("page"))
    context = {
        "page": page, "query": query, "channel": channel, "channels": Channel.choices, "brands": brands,
        "values": values, "errors": errors, "may_add": _may(request, ADD), "may_lift": _may(request, LIFT),
    }
    return render(request, "marketing/suppressions.html", context, status=422 if errors else 200)


@login_required
@require_POST
def suppression_lift_view(request: AuthedRequest, pk: int) -> HttpResponse:
    if not (_may(request, VIEW) and _may(request, LIFT)):
        raise Http404
    row = suppression_get_for_user(request.user, pk)
    if row is None:
        raise Http404
    try:
        suppression_lift(actor=request.user, suppression=row, reason=str(request.POST.get("reason", "")))
    except ValidationFailed as error:
        messages.error(request, " ".join(str(m) for v in error.fields.values() for m in v) or str(error.message))
    except NotFound as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("Suppression lifted: the address may get marketing again if its holder consents."))
    return redirect(reverse("marketing_suppressions"))

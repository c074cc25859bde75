"""Pages of marketing's email campaigns: the list, the new campaign (segment with its live count,
variants, a preview for a sample member and a test send to the marketer, htmx), a campaign's page
with its results per variant and for the hold-out group; and the recipients' open pixel and click
redirect (signed links, no login)."""

from __future__ import annotations

import base64
import zoneinfo
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotAllowed, ValidationFailed
from crm.lib.validation import InvalidValue
from crm.permissions import AuthedRequest
from crm.views.ui.forms import apply_domain_errors
from marketing import campaigns, selectors
from marketing.campaign_forms import CampaignForm
from marketing.campaign_results import campaign_results
from marketing.exceptions import CampaignUnknown
from marketing.permissions import (
    campaign_brands_for_user,
    campaign_get_for_user,
    campaign_queryset_for_user,
    may_change_campaigns,
    may_send_campaigns,
    may_view_campaigns,
)

# A transparent 1x1 GIF.
_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def campaigns_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapper(request: AuthedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_view_campaigns(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _form(request: AuthedRequest) -> CampaignForm:
    return CampaignForm(request.POST or None, brands=campaign_brands_for_user(request.user))


@campaigns_required
@require_GET
def campaign_list(request: AuthedRequest) -> HttpResponse:
    rows = list(campaign_queryset_for_user(request.user).order_by("-created_at", "-id")[:200])
    return render(
        request,
        "marketing/campaigns.html",
        {"campaigns": rows, "may_change": may_change_campaigns(request.user)},
    )


@campaigns_required
@require_http_methods(["GET", "POST"])
def campaign_new(request: AuthedRequest) -> HttpResponse:
    if not may_change_campaigns(request.user):
        raise Http404
    form = _form(request)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            cost = campaigns.cost_parse(data["cost_amount"], data["cost_currency"])
            campaign = campaigns.campaign_save(
                actor=request.user,
                brand=data["brand"],
                name=data["name"],
                segment=data["segment"],
                variants=campaigns.variants_from(data),
                holdout_percent=data["holdout_percent"],
                attribution_days=data["attribution_days"],
                winner_metric=data["winner_metric"],
                cost=cost,
                channel=data["channel"],
            )
        except InvalidValue as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        except (ValidationFailed, NotAllowed) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("Campaign saved as a draft."))
            return redirect(reverse("marketing_campaign", args=[campaign.code]))
    return render(request, "marketing/campaign_new.html", {"form": form}, status=422 if form.errors else 200)


@campaigns_required
@require_POST
def campaign_segment_count(request: AuthedRequest) -> HttpResponse:
    """The live count of the chosen segment's members (htmx, on choosing it)."""
    form = _form(request)
    form.is_valid()
    segment = form.cleaned_data.get("segment") if hasattr(form, "cleaned_data") else None
    if segment is None:
        return render(request, "marketing/_count.html", {"count": None, "error": _("Choose a segment.")})
    return render(request, "marketing/_count.html", {"count": selectors.segment_count(segment=segment)})


def _channel(form: CampaignForm) -> str:
    return str(getattr(form, "cleaned_data", {}).get("channel") or form.data.get("channel") or "email")


def _draft_variant(request: AuthedRequest) -> tuple[CampaignForm, Any, Any, campaigns.VariantText]:
    form = _form(request)
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    label = "B" if request.POST.get("variant") == "B" else "A"
    low = label.lower()
    variant = campaigns.VariantText(
        label=label,
        subject=str(request.POST.get(f"subject_{low}", "")),
        body=str(request.POST.get(f"body_{low}", "")),
        share_percent=100,
    )
    return form, data.get("brand"), data.get("segment"), variant


@campaigns_required
@require_POST
def campaign_preview(request: AuthedRequest) -> HttpResponse:
    """The variant being written, rendered for a sample member of the chosen segment (htmx)."""
    if not may_change_campaigns(request.user):
        raise Http404
    _form_, brand, segment, variant = _draft_variant(request)
    context: dict[str, Any] = {"variant": variant.label}
    if brand is None:
        context["error"] = _("Choose a brand.")
    else:
        try:
            context["preview"] = campaigns.campaign_preview(
                actor=request.user, brand=brand, segment=segment, variant=variant, channel=_channel(_form_)
            )
        except (ValidationFailed, NotAllowed) as error:
            context["error"] = " ".join(m for msgs in error.fields.values() for m in msgs) or str(
                error.message
            )
    return render(request, "marketing/_preview.html", context)


@campaigns_required
@require_POST
def campaign_test_send(request: AuthedRequest) -> HttpResponse:
    """The variant being written, mailed to the marketer's own address (htmx)."""
    if not may_change_campaigns(request.user):
        raise Http404
    _form_, brand, segment, variant = _draft_variant(request)
    context: dict[str, Any] = {"variant": variant.label}
    if brand is None:
        context["error"] = _("Choose a brand.")
    elif _channel(_form_) == "sms":
        context["error"] = _("A test goes by email only: preview the SMS here instead.")
    else:
        try:
            campaigns.campaign_test_send(actor=request.user, brand=brand, segment=segment, variant=variant)
        except (ValidationFailed, NotAllowed) as error:
            context["error"] = " ".join(m for msgs in error.fields.values() for m in msgs) or str(
                error.message
            )
        else:
            context["sent_to"] = request.user.email
    return render(request, "marketing/_preview.html", context)


@campaigns_required
@require_GET
def campaign_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    try:
        campaign = campaign_get_for_user(request.user, code)
    except CampaignUnknown:
        raise Http404 from None
    results = campaign_results(campaign=campaign)
    context = {
        "campaign": campaign,
        "variants": list(campaign.variants.all()),
        "results": results,
        "may_send": may_send_campaigns(request.user),
    }
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        return render(request, "marketing/campaign.html#results", context)
    return render(request, "marketing/campaign.html", context)


def _act(request: AuthedRequest, code: Any, action: Callable[..., Any], done: str) -> HttpResponse:
    if not may_send_campaigns(request.user):
        raise Http404
    try:
        campaign = campaign_get_for_user(request.user, code)
    except CampaignUnknown:
        raise Http404 from None
    try:
        action(actor=request.user, campaign=campaign)
    except NotAllowed:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, done)
    return redirect(reverse("marketing_campaign", args=[campaign.code]))


@campaigns_required
@require_POST
def campaign_send(request: AuthedRequest, code: Any) -> HttpResponse:
    return _act(request, code, campaigns.campaign_send, _("Sending started."))


@campaigns_required
@require_POST
def campaign_schedule(request: AuthedRequest, code: Any) -> HttpResponse:
    """Send at a time the marketer gives in their own time zone (datetime-local: "YYYY-MM-DDTHH:MM")."""
    at = parse_datetime(str(request.POST.get("at", "")))
    if at is None:
        messages.error(request, _("Give the time to send at."))
        return redirect(reverse("marketing_campaign", args=[code]))
    if timezone.is_naive(at):
        at = timezone.make_aware(at, zoneinfo.ZoneInfo(getattr(request.user, "timezone", "") or "UTC"))

    def schedule(*, actor: Any, campaign: Any) -> Any:
        return campaigns.campaign_schedule(actor=actor, campaign=campaign, at=at)

    return _act(request, code, schedule, _("Campaign scheduled."))


@campaigns_required
@require_POST
def campaign_resume(request: AuthedRequest, code: Any) -> HttpResponse:
    return _act(request, code, campaigns.campaign_resume, _("Sending resumed for the members still waiting."))


@campaigns_required
@require_POST
def campaign_cancel(request: AuthedRequest, code: Any) -> HttpResponse:
    return _act(request, code, campaigns.campaign_cancel, _("Campaign cancelled: nobody else is sent it."))


# --- the recipients' links (no login) -----------------------------------------------------------------


@never_cache
@require_GET
def campaign_open(request: Any, token: str) -> HttpResponse:
    campaigns.campaign_open_record(token=token)
    return HttpResponse(_PIXEL, content_type="image/gif")


@never_cache
@require_GET
def campaign_click(request: Any, token: str) -> HttpResponse:
    target = campaigns.campaign_click_record(token=token)
    if target is None:
        return HttpResponseBadRequest(_("This link is not valid."), content_type="text/plain; charset=utf-8")
    return HttpResponseRedirect(target)

"""The staff restriction page of one member of staff: whether they are restricted, the history of
their restrictions, and the forms to restrict them now or lift it. For whoever may restrict them
(crm.permissions.staff_restriction_refusal); anyone else gets a 404, like a code nobody has."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext

from crm import services
from crm.exceptions import Conflict, NotAllowed, ValidationFailed
from crm.models import User
from crm.permissions import AuthedRequest, code_or_404, staff_restriction_refusal


def _member_for(request: AuthedRequest, code: Any) -> User:
    member = User.objects.select_related("role", "desk").filter(code=code_or_404(code)).first()
    if member is None or staff_restriction_refusal(request.user, member) is not None:
        raise Http404
    return member


@login_required
def staff_restriction(request: AuthedRequest, code: Any) -> HttpResponse:
    member = _member_for(request, code)
    if request.method == "POST":
        action = request.POST.get("action", "")
        reason = request.POST.get("reason", "")
        try:
            if action == "restrict":
                services.staff_restrict(actor=request.user, user=member, reason=reason)
                messages.success(request, gettext("%(name)s is restricted from their next request: no reveals, "
                                                  "no exports, read-only.") % {"name": member})
            elif action == "lift":
                services.staff_restriction_lift(actor=request.user, user=member, reason=reason)
                messages.success(request, gettext("The restriction of %(name)s is lifted.") % {"name": member})
            else:
                messages.error(request, gettext("Choose to restrict or to lift."))
        except ValidationFailed as error:
            messages.error(request, gettext("Give a reason.") if "reason" in error.fields else error.message)
        except (Conflict, NotAllowed) as error:
            messages.error(request, error.message)
        return redirect("staff_restriction", member.code)
    return render(request, "crm/staff/restriction.html", {
        "member": member,
        "open": services.staff_restriction_open(member),
        "history": services.staff_restrictions_of(member)[:50],
    })

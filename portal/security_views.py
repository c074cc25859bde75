"""The client's signed-in sessions (profile, security) and their notifications."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST

from crm.exceptions import NotFound
from portal import selectors, services
from portal.auth import PortalRequest, client_login_required, portal_session, portal_session_logout
from portal.notifications import notification_shown


@client_login_required
def sessions(request: PortalRequest) -> HttpResponse:
    login = request.portal_login
    current = portal_session(request).session_key
    return render(request, "portal/sessions.html", {
        "brand": login.brand, "portal_login": login, "current_key": current,
        "sessions": selectors.sessions_for(login=login)})


@require_POST
@client_login_required
def session_end(request: PortalRequest, code: str) -> HttpResponse:
    """Sign out one session (the list's button; this one too: then back to the login page) or, with
    code "others", every session but this one."""
    from portal.models import PortalSession

    login = request.portal_login
    current = portal_session(request).session_key
    this_one = code != "others" and services._uuid(code) and PortalSession.objects.filter(
        login=login, code=code, session_key=current or "").exists()
    try:
        ended = services.portal_session_end(login=login, code=code, current_key=current)
    except NotFound:
        raise Http404 from None
    if this_one:
        response = HttpResponseRedirect(reverse("portal:login"))
        portal_session_logout(request, response)
        return response
    messages.success(request, ngettext("%(n)d session signed out.", "%(n)d sessions signed out.", ended) % {"n": ended})
    return HttpResponseRedirect(reverse("portal:sessions"))


@client_login_required
def notifications(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    rows = [(n, notification_shown(n)) for n in selectors.notifications_for(client=client)]
    return render(request, "portal/notifications.html", {
        "brand": client.brand, "portal_login": request.portal_login, "rows": rows})


@require_POST
@client_login_required
def notifications_read(request: PortalRequest, code: str | None = None) -> HttpResponse:
    try:
        services.portal_notifications_read(login=request.portal_login, code=code)
    except NotFound:
        raise Http404 from None
    if code is None:
        messages.success(request, gettext("All notifications are marked as read."))
    return HttpResponseRedirect(reverse("portal:notifications"))

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm.permissions import user_can


@login_required
def gadgets(request: HttpRequest) -> HttpResponse:
    if not user_can(request.user, "registry_app.view_gadget"):
        raise PermissionDenied
    return render(request, "registry_app/gadgets.html", {})

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    from crm.navigation import nav_items_for

    user = getattr(request, "user", None)
    return {
        "site_name": settings.CRM_SITE_NAME,
        "nav_items": nav_items_for(user) if user is not None and user.is_authenticated else [],
    }

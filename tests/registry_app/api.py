from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from crm.api import requires_scope

router = Router(tags=["gadgets"])


@router.get("/gadgets", operation_id="gadget_list")
@requires_scope("gadgets:read")
def gadget_list(request: HttpRequest) -> dict[str, Any]:
    return {"gadgets": []}

"""The compliance API: each part of the app brings its own router, mounted here."""

from __future__ import annotations

from ninja import Router

from compliance.api_restrictions import router as restrictions_router

router = Router(tags=["compliance"])
router.add_router("", restrictions_router)

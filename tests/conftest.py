"""Shared fixtures. Complex states are built through services (see tests/factories.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _media_and_cache(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    yield
    from django.core.cache import cache

    cache.clear()

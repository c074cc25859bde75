"""What the browser tests share: Debian's Chromium, the staff password they set, the marks, the login."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from django.urls import reverse

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct-horse-battery-9"

# Every browser test: marked, on committed data (the live server reads it from another thread), and
# skipped with the reason where Chromium is not installed.
MARKS = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]


def login(page: Any, base: str, email: str, *, home: bool = True) -> None:
    """Sign in through the login page; with `home`, wait for the dashboard (no second factor asked)."""
    page.goto(f"{base}{reverse('login')}")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    if home:
        page.wait_for_url(f"{base}/")

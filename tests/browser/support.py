"""What the browser tests share: Debian's Chromium, the staff password they set, the marks, the login."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
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


def trail_export(page: Any, base: str, *, brand: str, client: str, day: str) -> zipfile.ZipFile:
    """As a compliance officer on `page`: ask for the client's trail export of `day` (ISO) on the trail
    page, run its RQ job as the worker would, and download it from the page's list of exports."""
    import django_rq
    from rq import SimpleWorker

    page.goto(f"{base}{reverse('compliance_trail')}")
    form = page.locator("#trail-form")
    form.locator("select[name=brand]").select_option(brand)
    form.locator("input[name=client]").fill(client)
    form.locator("input[name=start]").fill(day)
    form.locator("input[name=end]").fill(day)
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/"))  # the job's page, with its progress
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    page.goto(f"{base}{reverse('compliance_trail')}")
    with page.expect_download() as download:
        page.click("#trail-exports tr[data-export] a:has-text('Download')")
    with open(download.value.path(), "rb") as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))

"""Issue 34's screening journey in a real browser: a compliance officer loads a new version of a list on
the watchlists page, the clients are re-screened against its new entries, the officer finds the hit in
the screening queue beside the client and confirms it; above the high score it waits, and a second
officer approves it; the client, frozen at once, asks for a withdrawal in the trader's room and is
refused in neutral words."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from django.urls import reverse

from compliance.models import ScreeningHit
from compliance.services import watchlist_load
from compliance.watchlists.parsers import SourceFile
from crm.celery import app as celery_app
from crm.lib.fieldcrypt import keyed_hash
from crm.models import RoleCode, Task
from portal.models import ClientLogin
from portal.services import portal_email_verify, portal_register, verification_token
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_user
from tests.waiting import scaled_ms
from tests.wallet.withdrawal_support import build_world

pytestmark = MARKS

CLIENT_PASSWORD = "Harbour-Lantern-77"
NEUTRAL_WITHDRAWAL = "Withdrawals are not available on your account at the moment. Please contact support."
FIXTURES = Path(__file__).resolve().parent.parent / "compliance" / "fixtures"


@pytest.fixture
def officers(db, settings):
    """Two compliance officers with the second factor set up, a client who is not on the list yet, and
    the list's first version. Celery runs eagerly in the live server's thread: the load's re-screening
    runs when the upload commits, as a worker would run it a moment later."""
    from django_otp.oath import totp

    from crm.staff_services import otp_device_start, otp_setup_confirm

    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "0.9"
    brand = make_brand(code="atlas-s", name="Atlas Screening")
    # The client registers in the trader's room, verifies the address, passes KYC (its checks recorded
    # here, before Celery turns eager) and has 1,000.00 USD in the wallet, with card withdrawals.
    portal_register(brand=brand, language="en", first_name="Marek", last_name="Novák", email="marek@example.com",
                    phone="+420601123456", country="CZ", date_of_birth=date(1979, 3, 3), password=CLIENT_PASSWORD,
                    accept_terms=True, accept_privacy=True)
    login_row = ClientLogin.objects.get(email_hash=keyed_hash("marek@example.com", kind="email"))
    portal_email_verify(token=verification_token(login_row))
    client = login_row.client
    build_world(brand=brand, client=client)
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    staff = []
    # Carla loads the list: lists are global, so she works for every brand; Omar for this one only.
    for name, email, everywhere in (("Carla Compliance", "carla@staff.example.com", True),
                                    ("Omar Officer", "omar@staff.example.com", False)):
        user = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name=name, email=email, password=PASSWORD,
                         all_brands=everywhere)
        device = otp_device_start(user=user)
        otp_setup_confirm(user=user, device=device, token=f"{totp(device.bin_key, drift=-1):06d}")
        staff.append(user)
    watchlist_load(name="OFAC SDN", fmt="ofac-csv",
                   files=[SourceFile(n, (FIXTURES / n).read_bytes()) for n in ("sdn.csv", "alt.csv", "add.csv")])
    try:
        yield type("Officers", (), {"first": staff[0], "second": staff[1], "client": client})
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def _sign_in(browser, base: str, user) -> object:
    from django_otp.oath import totp

    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    login(page, base, user.email, home=False)
    page.wait_for_url(re.compile(r"/2fa/verify/"))
    page.fill("input[name=token]", f"{totp(user.totpdevice_set.get().bin_key):06d}")
    page.click("button:has-text('Verify')")
    page.wait_for_url(f"{base}/")
    return page


def test_an_officer_confirms_a_hit_from_a_list_update_with_a_second_officer(live_server, browser, officers):
    base = live_server.url
    first = _sign_in(browser, base, officers.first)
    first.click("nav a:has-text('Watchlists')")
    first.wait_for_url(f"{base}{reverse('compliance_watchlist_versions')}")
    upload = first.locator("form[data-form=upload]")
    upload.locator("input[name=list_name]").fill("OFAC SDN")
    upload.locator("select[name=fmt]").select_option("ofac-csv")
    upload.locator("input[name=files]").set_input_files([str(FIXTURES / n) for n in ("sdn_v2.csv", "alt.csv", "add.csv")])
    upload.locator("button[type=submit]").click()
    first.wait_for_selector("[data-diff=added] >> text=NOVAK, Marek")

    first.goto(f"{base}{reverse('compliance_screening_queue')}")
    row = first.locator("#screening-queue tr[data-status=open]", has_text="Marek Novák")
    assert "NOVAK, Marek" in row.inner_text()
    row.locator("a").click()
    first.wait_for_selector("[data-explanation]")
    assert "1979-03-03" in first.locator("[data-side=client]").inner_text()
    decide = first.locator("form[data-form=decide]")
    decide.locator("input[value=confirm]").check()
    decide.locator("textarea[name=reason]").fill("Same date of birth and nationality as the listed person.")
    decide.locator("button[type=submit]").click()
    first.wait_for_selector("[data-hit-status=pending]")
    assert first.locator("[data-pending] button:has-text('Approve the decision')").count() == 0

    hit = ScreeningHit.objects.get(client=officers.client)
    assert hit.trigger == "list_update" and hit.ent_num == "16000"
    second = _sign_in(browser, base, officers.second)
    second.goto(f"{base}{reverse('compliance_screening_queue')}")
    second.locator("#screening-queue tr[data-status=pending] a", has_text="Marek Novák").click()
    second.click("button:has-text('Approve the decision')")
    second.wait_for_selector("[data-hit-status=confirmed]")
    hit.refresh_from_db()
    assert (hit.status, hit.decided_by, hit.approved_by) == ("confirmed", officers.first, officers.second)
    # Compliance's task goes to the approving officer, not onto the client (whose tasks the sales floor reads).
    # (A confirmed hit also raises the client's risk band, whose due-diligence task may land beside it.)
    tasks = Task.objects.filter(title__contains="Marek Novák")
    assert tasks.exists() and not tasks.filter(client__isnull=False).exists()
    task = tasks.get(title__startswith="Compliance case")
    assert task.assignee == officers.second

    # The client is frozen at once: the withdrawal is refused in neutral words, nothing is requested.
    room = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    room.set_default_timeout(scaled_ms(20_000))
    room.goto(f"{base}/portal/{officers.client.brand.code}/login/")
    room.fill("input[name=email]", "marek@example.com")
    room.fill("input[name=password]", CLIENT_PASSWORD)
    room.click("button[type=submit]")
    room.wait_for_url(f"{base}/portal/")
    room.goto(f"{base}{reverse('portal:withdraw')}")
    room.fill("input[name=amount]", "100")
    room.fill("input[name=destination]", "4242424242424242")
    room.click("button:has-text('Request the withdrawal')")
    room.wait_for_selector(f"text={NEUTRAL_WITHDRAWAL}")
    text = room.inner_text("main")
    assert "sanction" not in text.lower() and "OFAC" not in text and "compliance" not in text.lower()
    assert not officers.client.withdrawals.exists()

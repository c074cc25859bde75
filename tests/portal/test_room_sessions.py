"""The client's trader's-room sessions: listed with device, IP and times, one or all others signed
out (their cookies open nothing any more), another client's session out of reach."""

from __future__ import annotations

from django.test import Client as Browser
from django.urls import reverse

from tests.portal.conftest import sign_in
from tests.portal.room import other_client

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile Safari"


def browser(ip: str, agent: str = "") -> Browser:
    return Browser(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent or f"Test browser {ip}")


def signed_in(brand, ip, agent=""):
    b = browser(ip, agent)
    assert sign_in(b, brand).status_code == 302
    return b


def test_the_sessions_page_lists_each_signed_in_device(registered):
    laptop = signed_in(registered.brand, "10.1.1.1")
    signed_in(registered.brand, "10.2.2.2", PHONE_UA)
    page = laptop.get(reverse("portal:sessions")).content.decode()
    assert page.count('class="p-session"') == 2
    assert "10.1.1.1" in page and "10.2.2.2" in page and "iPhone" in page
    assert page.count("This device") == 1
    laptop.post(reverse("portal:logout"))
    phone_page = signed_in(registered.brand, "10.3.3.3").get(reverse("portal:sessions")).content.decode()
    assert "10.1.1.1" not in phone_page  # signed out: no longer listed


def test_signing_out_another_session_ends_it(registered):
    from portal.models import PortalSession

    laptop = signed_in(registered.brand, "10.1.1.1")
    phone = signed_in(registered.brand, "10.2.2.2", PHONE_UA)
    assert phone.get(reverse("portal:home")).status_code == 200
    phone_session = PortalSession.objects.get(ip="10.2.2.2")
    response = laptop.post(reverse("portal:session_end", args=[phone_session.code]))
    assert response.status_code == 302
    # The phone's cookie opens nothing now; the laptop stays signed in.
    home = phone.get(reverse("portal:home"))
    assert home.status_code == 302 and home["Location"].startswith(reverse("portal:login"))
    assert laptop.get(reverse("portal:home")).status_code == 200
    assert "10.2.2.2" not in laptop.get(reverse("portal:sessions")).content.decode()


def test_signing_out_all_other_sessions_keeps_this_one(registered):
    laptop = signed_in(registered.brand, "10.1.1.1")
    others = [signed_in(registered.brand, f"10.2.2.{n}") for n in (1, 2)]
    response = laptop.post(reverse("portal:session_end", args=["others"]), follow=True)
    assert "2 sessions signed out." in response.content.decode()
    for other in others:
        assert other.get(reverse("portal:home")).status_code == 302
    assert laptop.get(reverse("portal:home")).status_code == 200


def test_signing_out_this_session_from_the_list_signs_out(registered):
    from portal.models import PortalSession

    laptop = signed_in(registered.brand, "10.1.1.1")
    mine = PortalSession.objects.get(ip="10.1.1.1")
    response = laptop.post(reverse("portal:session_end", args=[mine.code]))
    assert response["Location"] == reverse("portal:login")
    assert laptop.get(reverse("portal:home")).status_code == 302


def test_another_clients_session_cannot_be_signed_out(registered, register):
    from portal.models import PortalSession

    laptop = signed_in(registered.brand, "10.1.1.1")
    other_login, other_browser = other_client(registered.brand, register)
    theirs = PortalSession.objects.get(login=other_login)
    assert laptop.post(reverse("portal:session_end", args=[theirs.code])).status_code == 404
    assert laptop.post(reverse("portal:session_end", args=["not-a-code"])).status_code == 404
    assert other_browser.get(reverse("portal:home")).status_code == 200
    assert str(theirs.code) not in laptop.get(reverse("portal:sessions")).content.decode()


def test_a_password_change_drops_the_other_sessions_from_the_list(registered):
    from tests.portal.conftest import PASSWORD

    laptop = signed_in(registered.brand, "10.1.1.1")
    phone = signed_in(registered.brand, "10.2.2.2")
    response = laptop.post(reverse("portal:profile"), {"action": "password", "current_password": PASSWORD,
                                                      "new_password": "brisk-harbour-5521"})
    assert response.status_code == 302
    assert phone.get(reverse("portal:home")).status_code == 302
    page = laptop.get(reverse("portal:sessions")).content.decode()
    assert page.count('class="p-session"') == 1 and "10.2.2.2" not in page


def test_last_seen_moves_at_most_once_a_minute(registered):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from portal.models import PortalSession

    start = timezone.now()
    with time_machine.travel(start, tick=False):
        laptop = signed_in(registered.brand, "10.1.1.1")
    row = PortalSession.objects.get(ip="10.1.1.1")
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        laptop.get(reverse("portal:home"))
    row.refresh_from_db()
    assert row.last_seen_at == start
    later = start + timedelta(minutes=2)
    with time_machine.travel(later, tick=False):
        laptop.get(reverse("portal:home"))
    row.refresh_from_db()
    assert row.last_seen_at == later and row.signed_in_at == start

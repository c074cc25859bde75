"""The trader's room's notifications: made from the domain events, per client, in the page's
language, counted in the header until read."""

from __future__ import annotations

from django.urls import reverse

from crm import events
from tests.kyc.conftest import report
from tests.portal.conftest import sign_in
from tests.portal.room import other_client
from tests.portal.test_verification import save_address, send
from tests.portal.test_verification_account import approve, broker  # noqa: F401  (fixture)
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401  (fixtures)
from tests.trading.crm_fixtures import _fresh_adapters  # noqa: F401  (fixture)


def unread_badge(page: str) -> str | None:
    marker = 'class="p-badge"'
    if marker not in page:
        return None
    return page.split(marker, 1)[1].split(">", 1)[1].split("<", 1)[0]


def test_approval_and_account_opening_reach_the_client_and_no_one_else(broker, http, register):  # noqa: F811
    other_login, other_browser = other_client(broker.brand, register)
    approve(broker.client)
    events.dispatch_pending()
    events.dispatch_pending()  # "trading.account_opened", emitted while the approval was delivered
    [account] = broker.client.trading_accounts.all()
    sign_in(http, broker.brand)
    home = http.get(reverse("portal:home")).content.decode()
    assert unread_badge(home) == "2"
    # In Arabic too (its plural rule computes with the count: a lazy count broke the header).
    arabic = http.get(reverse("portal:home"), {"lang": "ar"})
    assert arabic.status_code == 200 and unread_badge(arabic.content.decode()) == "2"
    # Arabic's plural rule takes n % 100 from a count of 3 up: the page hands templates a real int.
    assert type(arabic.wsgi_request.portal_unread()) is int
    http.get(reverse("portal:home"), {"lang": "en"})
    page = http.get(reverse("portal:notifications")).content.decode()
    assert "Your identity is verified" in page
    assert f"Your live account {account.login} is open" in page and "1:500" in page

    # Another client of the brand sees none of it, and cannot mark it read.
    other_page = other_browser.get(reverse("portal:notifications")).content.decode()
    assert "Your identity is verified" not in other_page and unread_badge(other_page) is None
    from portal.models import Notification

    mine = Notification.objects.filter(client=broker.client).first()
    assert other_browser.post(reverse("portal:notification_read", args=[mine.code])).status_code == 404
    mine.refresh_from_db()
    assert mine.read_at is None

    # Read one, then all: the header's count follows.
    assert http.post(reverse("portal:notification_read", args=[mine.code])).status_code == 302
    assert unread_badge(http.get(reverse("portal:home")).content.decode()) == "1"
    http.post(reverse("portal:notifications_read"))
    assert unread_badge(http.get(reverse("portal:home")).content.decode()) is None


def test_delivered_twice_the_event_makes_one_notification(broker):  # noqa: F811
    from crm.models import Event
    from portal.handlers import notify_client
    from portal.models import Notification

    approve(broker.client)
    events.dispatch_pending()
    event = Event.objects.get(name="kyc.approved", client=broker.client)
    notify_client(event)
    assert Notification.objects.filter(event=event).count() == 1


def test_a_rejection_says_what_to_fix_in_the_clients_language(registered, http):
    from kyc.services import submission_checks_record

    save_address(registered.client)
    submission_checks_record(submission=send(registered.client),
                             report=report(decision="reject", hint="Send a passport that has not expired."))
    events.dispatch_pending()
    sign_in(http, registered.brand)
    page = http.get(reverse("portal:notifications")).content.decode()
    assert "We could not verify your identity" in page and "Send a passport that has not expired." in page
    arabic = http.get(reverse("portal:notifications") + "?lang=ar").content.decode()
    assert 'dir="rtl"' in arabic and "We could not verify your identity" not in arabic

"""Trading passwords reach the client through a single-use link, not by email: the email (in the brand's
name and the client's language) has no password; the link's page shows it once to whoever presses
the button, with no staff login and under a strict CSP; a second visit says it was used, an old link
that it expired, a link superseded by a newer one that it was replaced. The password waits encrypted
until revealed and is wiped then (or on expiry)."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client as HttpClient
from django.urls import resolve, reverse
from django.utils import timezone

from crm.lib import csp
from crm.models import AuditLog, Event
from tests.factories import make_client
from tests.trading.crm_fixtures import _fresh_adapters, open_account, world  # noqa: F401 - fixtures
from trading import accounts as trading_accounts
from trading import password_links
from trading.models import TradingPasswordLink
from trading.services import trading_account_open, trading_account_reset_password

LINK = re.compile(r"https?://[^\s\"<]+/trading-password/([^/\s\"<]+)/")


@pytest.fixture
def made(monkeypatch) -> list[str]:
    """Every trading password the services generate, in order."""
    passwords: list[str] = []
    generate = trading_accounts.generate_trading_password
    monkeypatch.setattr(trading_accounts, "generate_trading_password",
                        lambda: passwords.append(generate()) or passwords[-1])
    return passwords


def _link_path(message) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return reverse("trading_password_link", args=[match.group(1)])


def _open(world, client, capture, **kwargs):
    with capture(execute=True):
        return trading_account_open(actor=world.owner, client=client, server=world.server, account_type="standard",
                                    leverage=100, **kwargs)


def test_the_email_has_a_link_and_no_password_and_the_link_shows_it_once(world, made,
                                                                        django_capture_on_commit_callbacks):
    account = _open(world, world.client, django_capture_on_commit_callbacks)
    password, investor = made
    [message] = mail.outbox
    html = message.alternatives[0][0]
    for text in (message.subject, message.body, html):
        assert password not in text and investor not in text
    assert str(account.login) in message.body and "48 hours" in message.body
    path = _link_path(message)
    assert path in html

    # No staff login; looking at the page (as a mail scanner does) shows and spends nothing.
    visitor = HttpClient()
    for _ in range(2):
        page = visitor.get(path)
        assert page.status_code == 200 and "Show my password" in page.content.decode()
        assert password not in page.content.decode()
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "no-referrer"

    shown = visitor.post(path)
    assert shown.status_code == 200
    content = shown.content.decode()
    assert password in content and investor in content and str(account.login) in content
    assert shown["Cache-Control"] == "no-store"

    again = visitor.get(path)
    assert again.status_code == 410 and "This link was already used" in again.content.decode()
    assert password not in again.content.decode()
    again = visitor.post(path)
    assert again.status_code == 410 and password not in again.content.decode()
    assert AuditLog.objects.filter(action="trading.password_link_reveal").count() == 1


def test_the_password_is_kept_only_encrypted_until_revealed_then_wiped(world, made,
                                                                       django_capture_on_commit_callbacks):
    account = _open(world, world.client, django_capture_on_commit_callbacks)
    password, investor = made
    link = TradingPasswordLink.objects.get(account=account)
    stored = json.dumps(list(TradingPasswordLink.objects.values()), default=str)
    assert password not in stored and investor not in stored
    assert password_links.CIPHER.decrypt(link.password_encrypted) == password
    token = LINK.search(mail.outbox[0].body).group(1)
    assert token not in stored and link.token_hash == password_links.token_hash(token)
    # Nowhere else either: not in the audit log, the events or the outbound email log.
    elsewhere = json.dumps([list(AuditLog.objects.values("before", "after", "reason")),
                            list(Event.objects.values("data"))], default=str)
    assert password not in elsewhere and token not in elsewhere

    revealed = password_links.password_link_reveal(token=token)
    assert (revealed.password, revealed.investor_password) == (password, investor)
    link.refresh_from_db()
    assert link.revealed_at is not None and link.password_encrypted == "" and link.investor_password_encrypted == ""


def test_an_expired_link_says_so_and_the_sweep_wipes_what_it_held(world, made, django_capture_on_commit_callbacks):
    _open(world, world.client, django_capture_on_commit_callbacks)
    password = made[0]
    path = _link_path(mail.outbox[0])
    with time_machine.travel(timezone.now() + dt.timedelta(hours=47)):
        assert HttpClient().get(path).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(hours=49)):
        assert password_links.password_links_purge() == 1
        page = HttpClient().post(path)
        assert page.status_code == 410 and "This link has expired" in page.content.decode()
        assert password not in page.content.decode()
    link = TradingPasswordLink.objects.get()
    assert link.password_encrypted == "" and link.revealed_at is None


def test_a_newer_link_replaces_the_older_one(world, made, django_capture_on_commit_callbacks):
    account = open_account(world, deposit=None)
    with django_capture_on_commit_callbacks(execute=True):
        trading_account_reset_password(actor=world.owner, account=account)
    with django_capture_on_commit_callbacks(execute=True):
        trading_account_reset_password(actor=world.owner, account=account)
    first, second = (_link_path(m) for m in mail.outbox)
    page = HttpClient().post(first)
    assert page.status_code == 410 and "A newer link replaced this one" in page.content.decode()
    old_password, new_password = made[-2:]  # the opening's two passwords come first
    assert old_password not in page.content.decode()
    shown = HttpClient().post(second)
    assert new_password in shown.content.decode()
    assert "Investor" not in shown.content.decode()  # a reset changes the main password only


def test_a_made_up_link_is_not_valid(world):
    page = HttpClient().get(reverse("trading_password_link", args=["x" * 43]))
    assert page.status_code == 404 and "This link is not valid" in page.content.decode()


def test_the_email_and_the_page_are_in_the_brand_s_name_and_the_client_s_language(world, made,
                                                                                   django_capture_on_commit_callbacks):
    world.brand.name = "Atlas Markets"
    world.brand.save(update_fields=["name"])
    arab = make_client(actor=world.owner, email="layla@example.com", language="ar", stage="registered")
    account = _open(world, arab, django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert message.from_email.startswith('"Atlas Markets"') or message.from_email.startswith("Atlas Markets")
    assert "Atlas Markets" in message.subject and f"{account.login}" in message.subject
    assert "لرؤية كلمة المرور، افتح هذا الرابط:" in message.body
    assert "Atlas Markets" in message.body and settings.CRM_SITE_NAME not in message.body
    assert 'dir="rtl"' in message.alternatives[0][0]

    path = _link_path(message)
    page = HttpClient().get(path).content.decode()
    assert 'lang="ar" dir="rtl"' in page and "اعرض كلمة المرور" in page and "Atlas Markets" in page
    shown = HttpClient(HTTP_ACCEPT_LANGUAGE="en").post(path).content.decode()
    assert "كلمة مرور التداول الخاصة بك" in shown and made[0] in shown
    # An English client of the same brand gets English.
    mail.outbox.clear()
    _open(world, world.client, django_capture_on_commit_callbacks)
    assert "To see your password, open this link:" in mail.outbox[0].body


def test_the_page_is_served_under_a_strict_policy_of_its_own(world, django_capture_on_commit_callbacks):
    _open(world, world.client, django_capture_on_commit_callbacks)
    path = _link_path(mail.outbox[0])
    view = csp.view_name(resolve(path).func)
    policy = csp.EXCEPTIONS[view].policy
    assert policy["script-src"] == ["'none'"] and policy["default-src"] == ["'none'"]
    for response in (HttpClient().get(path), HttpClient().post(path), HttpClient().get(path)):
        assert response["Content-Security-Policy"] == csp.header_value(policy)


def test_no_link_is_made_without_credentials_to_send(world, django_capture_on_commit_callbacks):
    _open(world, world.client, django_capture_on_commit_callbacks, send_credentials=False)
    assert not TradingPasswordLink.objects.exists() and mail.outbox == []

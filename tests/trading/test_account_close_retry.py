"""Closing an account while its platform is down or does not answer: the account shows "closing" to staff,
the close is retried by a Celery task with backoff, an unanswered close is resolved by looking the account
up on the platform (never by sending it blindly again), it ends closed exactly once when the platform is
back, and when the attempts are used up a dealer gets a task to close it by hand."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import AuditLog, Event, Task
from tests.trading.crm_fixtures import _fresh_adapters, open_account, world  # noqa: F401 - fixtures
from trading import tasks
from trading.services import close_retry_seconds, trading_account_close, trading_account_close_attempt

RIGHT_ENABLED = 0x1
DOWN = {"type": "http_error", "path": "*", "status": 503}


def _enabled(world, login: int) -> bool:
    rights = int(next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == login)["Rights"])
    return bool(rights & RIGHT_ENABLED)


@pytest.fixture
def queued(monkeypatch):
    """The retries trading queues (account id, countdown), instead of a broker."""
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(tasks.account_close_attempt, "apply_async",
                        lambda args, countdown: calls.append((args[0], countdown)))
    return calls


def test_a_platform_down_at_close_time_ends_with_the_account_closed_once_it_is_back(
        world, client, queued, django_capture_on_commit_callbacks):
    account = open_account(world, deposit=None)
    world.sim.faults(DOWN)
    with django_capture_on_commit_callbacks(execute=True):
        closing = trading_account_close(actor=world.dealer, account=account, reason="Client offboarded")
    assert closing.is_closing and not closing.is_closed
    assert (closing.close_state, closing.close_attempts) == ("pending", 1) and closing.close_error
    assert queued == [(account.pk, 60)]  # the next attempt in a minute
    world.sim.control("/_sim/faults/clear", {})
    assert _enabled(world, account.login)

    # Staff see it closing, in the client's trading tab and through the API.
    client.force_login(world.dealer)
    html = client.get(reverse("client_detail", args=[world.client.code]) + "?tab=trading").content.decode()
    assert 'data-close-state="pending"' in html and "closing" in html

    # The platform applies the next close but the answer is lost: the outcome is unknown.
    world.sim.faults({"type": "timeout_after_apply", "path": "/api/user/update", "mode": "sleep", "seconds": 4, "count": 1})
    unknown = trading_account_close_attempt(account_id=account.pk)
    assert (unknown.close_state, unknown.close_attempts, unknown.closed_at) == ("unknown", 2, None)
    assert not _enabled(world, account.login)  # applied on the platform all the same
    assert AuditLog.objects.filter(action="trading.account_close_failed", object_id=str(account.code)).count() == 2

    # Back, but any further change to the login would be refused: the close is confirmed by a lookup alone.
    world.sim.control("/_sim/faults/clear", {})
    world.sim.faults({"type": "http_error", "path": "/api/user/update", "status": 500})
    closed = trading_account_close_attempt(account_id=account.pk)
    assert closed.is_closed and closed.close_state == "closed" and closed.access == "disabled"
    assert closed.closed_reason == "Client offboarded" and closed.close_error == ""

    # Exactly once: one closing event and one close in the audit trail, whatever runs again.
    world.sim.control("/_sim/faults/clear", {})
    assert trading_account_close_attempt(account_id=account.pk).closed_at == closed.closed_at
    assert trading_account_close(actor=world.dealer, account=closed, reason="Again").closed_at == closed.closed_at
    assert Event.objects.filter(name="trading.account_closed", client=world.client).count() == 1
    assert AuditLog.objects.filter(action="trading.account_close", object_id=str(account.code)).count() == 1
    html = client.get(reverse("client_detail", args=[world.client.code]) + "?tab=trading").content.decode()
    assert 'data-close-state="closed"' in html


def test_an_unanswered_close_the_platform_did_not_apply_is_looked_up_then_sent_again(world, queued):
    account = open_account(world, deposit=None)
    # A server error on the update: the platform applied nothing, but the CRM cannot know that.
    world.sim.faults({"type": "http_error", "path": "/api/user/update", "status": 500, "count": 1})
    unknown = trading_account_close(actor=world.dealer, account=account, reason="Client offboarded")
    assert unknown.close_state == "unknown" and _enabled(world, account.login)
    closed = trading_account_close_attempt(account_id=account.pk)
    assert closed.is_closed and not _enabled(world, account.login)
    assert Event.objects.filter(name="trading.account_closed", client=world.client).count() == 1


def test_the_retry_task_keeps_trying_with_backoff_until_the_platform_is_back(world, queued, settings):
    account = open_account(world, deposit=None)
    world.sim.faults({**DOWN, "count": 3})
    closing = trading_account_close(actor=world.dealer, account=account, reason="Client offboarded")
    assert closing.is_closing
    # Eagerly, Celery runs each retry at once: the task goes on until the platform answers.
    tasks.account_close_attempt.apply(args=[account.pk])
    account.refresh_from_db()
    assert account.is_closed and not _enabled(world, account.login)
    assert account.close_attempts >= 2  # the failures before it got through, counted
    assert not Task.objects.filter(client=world.client).exists()
    assert [close_retry_seconds(n) for n in (1, 2, 3, 7, 12)] == [60, 120, 240, 3600, 3600]


def test_after_the_attempts_are_used_up_a_dealer_gets_one_task_and_the_account_stays_closing(
        world, queued, settings):
    settings.TRADING_ACCOUNT_CLOSE_MAX_ATTEMPTS = 3
    account = open_account(world, deposit=None)
    world.sim.faults(DOWN)
    trading_account_close(actor=world.dealer, account=account, reason="Client offboarded")
    tasks.account_close_attempt.apply(args=[account.pk])  # retries until the attempts are used up
    account.refresh_from_db()
    assert account.is_closing and account.close_attempts == 3 and _enabled(world, account.login)
    task = Task.objects.get(client=world.client)
    assert task.assignee == world.dealer and str(account.login) in task.title
    assert "3 attempts" in task.description
    # Staff close it again once the platform is back: it closes, and no second task is made.
    world.sim.control("/_sim/faults/clear", {})
    closed = trading_account_close(actor=world.dealer, account=account, reason="Closed by hand")
    assert closed.is_closed and closed.closed_reason == "Client offboarded"
    assert Task.objects.filter(client=world.client).count() == 1
    assert Event.objects.filter(name="trading.account_closed", client=world.client).count() == 1

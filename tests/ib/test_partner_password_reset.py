"""A partner who forgot its portal password: the link by email, once, and nothing for an address
that is not a partner's (the same answer); the other sessions end with the old password."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client as HttpClient

from crm.models import AuditLog
from ib import tasks
from ib.models import PartnerStatus
from tests.commits import queued
from tests.ib.engine_world import make_world

PASSWORD = "Quiet-Harbour-9174"  # noqa: S105 - test passwords
NEW_PASSWORD = "Amber-Lantern-5520"  # noqa: S105


@pytest.fixture
def world(db, settings):
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    w = make_world()
    w.login = w.services.partner_login_set_password(partner=w.master, password=PASSWORD)
    return w


def ask(w, email: str, capture, http: HttpClient | None = None):
    """Post the forgot-password form; run the mail task the commit queued (the task's own body)."""
    http = http or HttpClient()
    with capture() as callbacks:
        response = http.post(f"/partners/{w.brand.code}/password/reset/", {"email": email})
    tasks_queued = queued(callbacks)
    for callback in tasks_queued:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(tasks.partner_reset_mail, "delay", lambda login_id: tasks.partner_reset_mail(login_id))
            callback()
    return response, len(tasks_queued)


def link_path(message) -> str:
    [url] = re.findall(r"https://crm\.example\.com(/partners/password/reset/\S+/)", message.body)
    return url


def sign_in(w, password: str, http: HttpClient | None = None):
    http = http or HttpClient()
    return http, http.post(f"/partners/{w.brand.code}/login/", {"email": w.login.email, "password": password})


def test_the_link_sets_a_new_password_once_and_ends_the_other_sessions(world, django_capture_on_commit_callbacks):
    other, signed_in = sign_in(world, PASSWORD)
    assert signed_in.status_code == 302 and other.get("/partners/").status_code == 200
    login_page = HttpClient().get(f"/partners/{world.brand.code}/login/").content.decode()
    assert f"/partners/{world.brand.code}/password/reset/" in login_page  # "Forgot your password?"

    answer, queued = ask(world, world.login.email.upper(), django_capture_on_commit_callbacks)
    assert answer.status_code == 200 and "If a partner account exists" in answer.content.decode()
    assert queued == 1
    [message] = mail.outbox
    assert message.to == [world.login.email] and world.brand.name in message.subject
    path = link_path(message)

    http = HttpClient()
    form = http.get(path)
    assert form.status_code == 200 and "Set a new password" in form.content.decode()
    assert "Choose your password" not in form.content.decode()  # that is a new partner's first one
    mismatch = http.post(path, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 400 and "The two passwords differ." in mismatch.content.decode()
    weak = http.post(path, {"password": "password", "password2": "password"})
    assert weak.status_code == 400 and "too common" in weak.content.decode()
    done = http.post(path, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 200 and "Your new password is set" in done.content.decode()

    assert http.get(path).status_code == 404  # used: the link died with the old password
    assert sign_in(world, PASSWORD)[1].status_code == 400
    assert sign_in(world, NEW_PASSWORD)[1].status_code == 302
    assert other.get("/partners/")["Location"].startswith("/partners/login/")  # the old session ended
    assert AuditLog.objects.filter(action="ib.partner_password_reset", actor=None).count() == 1


def test_an_unknown_or_suspended_address_gets_the_same_answer_and_no_mail(world, django_capture_on_commit_callbacks):
    known, _ = ask(world, world.login.email, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    unknown, queued = ask(world, "nobody@example.com", django_capture_on_commit_callbacks)
    assert (unknown.status_code, queued, mail.outbox) == (200, 0, [])
    assert unknown.content.decode().count("If a partner account exists") == 1
    world.master.status = PartnerStatus.SUSPENDED
    world.master.save(update_fields=["status"])
    suspended, queued = ask(world, world.login.email, django_capture_on_commit_callbacks)
    assert (suspended.status_code, queued, mail.outbox) == (200, 0, [])


def test_a_forged_or_foreign_link_is_refused(world, django_capture_on_commit_callbacks):
    ask(world, world.login.email, django_capture_on_commit_callbacks)
    path = link_path(mail.outbox[0])
    uid, token = path.rstrip("/").split("/")[-2:]
    http = HttpClient()
    for bad in (f"/partners/password/reset/{uid}/{token[:-2]}xx/", f"/partners/password/reset/!!/{token}/",
                f"/partners/password/reset/{uid}99/{token}/"):
        response = http.get(bad)
        assert response.status_code == 404 and "no longer valid" in response.content.decode()
    # Signing in with the old password kills the link too (the token covers the last sign-in).
    assert sign_in(world, PASSWORD)[1].status_code == 302
    assert http.get(path).status_code == 404


def test_asking_too_often_is_refused_with_a_message(world, settings, django_capture_on_commit_callbacks):
    settings.PASSWORD_RESET_RATE_LIMIT = "2/h"
    for _ in range(2):
        assert ask(world, world.login.email, django_capture_on_commit_callbacks)[0].status_code == 200
    refused, queued = ask(world, world.login.email, django_capture_on_commit_callbacks)
    assert refused.status_code == 429 and queued == 0
    assert "Too many attempts" in refused.content.decode()

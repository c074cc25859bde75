"""Administrators' automation pages: rule list, editor with htmx rows, run log, email templates."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from automation.models import AutomationRule, AutomationRun, RunStatus
from automation.services import automation_rule_save, automation_seed_playbook
from crm import events
from crm.models import AuditLog, RoleCode
from crm.registry import PLAYBOOK, PLAYBOOK_TEMPLATES
from crm.services import client_stage_change
from emails.models import EmailTemplate
from emails.services import email_template_save
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
T0 = datetime(2030, 6, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def brand():
    return make_brand(code="alpha", name="Alpha Markets")


@pytest.fixture
def agent(brand):
    return make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand), full_name="Olivia Owner")


@pytest.fixture
def admin(brand):
    return make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")


@pytest.fixture
def admin_client(client, admin, login_verified):
    login_verified(client, admin)
    return client


@pytest.fixture
def tag_rule(brand):
    return automation_rule_save(actor=None, brand=brand, name="Tag registered", trigger="client.stage_changed",
                                conditions=[{"field": "data.to", "operator": "eq", "value": "registered"}],
                                actions=[{"type": "add_tag", "tag": "registered"}])


def page_urls(rule, template):
    return [
        ("get", reverse("automation_rule_list")),
        ("get", reverse("automation_rule_create") + "?brand=alpha"),
        ("post", reverse("automation_rule_create") + "?brand=alpha"),
        ("get", reverse("automation_rule_edit", args=[rule.code])),
        ("post", reverse("automation_rule_toggle", args=[rule.code])),
        ("post", reverse("automation_rule_delete", args=[rule.code])),
        ("get", reverse("automation_condition_row")),
        ("get", reverse("automation_action_row") + "?brand=alpha"),
        ("get", reverse("automation_run_list")),
        ("post", reverse("automation_playbook_seed")),
        ("get", reverse("email_template_list")),
        ("get", reverse("email_template_edit", args=[template.code])),
        ("post", reverse("email_template_preview")),
    ]


@pytest.mark.parametrize("role_code", [RoleCode.DESK_MANAGER, RoleCode.SALES_AGENT, RoleCode.COMPLIANCE])
def test_only_administrators_reach_automation_pages(client, brand, tag_rule, login_verified, role_code):
    template = email_template_save(actor=None, brand=brand, key="hello", language="en", subject="Hi", body="Hi")
    user = make_user(role_code=role_code, brand=brand)
    login_verified(client, user)
    for method, url in page_urls(tag_rule, template):
        response = getattr(client, method)(url, {"brand": "alpha"} if method == "post" else None)
        assert response.status_code == 404, (method, url)
    assert AutomationRule.objects.filter(pk=tag_rule.pk, is_active=True).exists()


def test_rule_list_shows_rules_in_order_with_what_they_do(admin_client, brand, tag_rule):
    response = admin_client.get(reverse("automation_rule_list") + "?brand=alpha")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Tag registered" in body
    assert "data.to equals registered" in body
    assert "Tag “registered”" in body
    assert "Automation" in body  # the navigation entry


def test_toggle_swaps_the_row(admin_client, tag_rule):
    response = admin_client.post(reverse("automation_rule_toggle", args=[tag_rule.code]), {"active": "0"}, **HTMX)
    tag_rule.refresh_from_db()
    assert not tag_rule.is_active
    body = response.content.decode()
    assert body.lstrip().startswith("<li") and "Switch on" in body


def test_admin_builds_a_rule_in_the_editor(admin_client, brand, agent):
    data = {
        "brand": "alpha", "name": "Welcome call", "description": "", "trigger_choice": "client.created",
        "trigger_other": "", "delay_hours": "2", "cancel_on": "note.added, task.completed", "is_active": "on",
        "cond-b2-field": "client.country", "cond-b2-operator": "in", "cond-b2-value": "GB, AE",
        "cond-a1-field": "client.has_owner", "cond-a1-operator": "eq", "cond-a1-value": "true",
        "act-z9-type": "create_task", "act-z9-title": "Call {{ client.first_name }}", "act-z9-assignee": "owner",
        "act-z9-due_in_hours": "4", "act-z9-description": "",
        "act-c3-type": "notify", "act-c3-who": str(agent.code), "act-c3-title": "New: {{ client.full_name }}",
        "act-c3-body": "",
    }
    response = admin_client.post(reverse("automation_rule_create") + "?brand=alpha", data)
    assert response.status_code == 302
    rule = AutomationRule.objects.get(brand=brand, name="Welcome call")
    assert (rule.trigger, rule.delay_hours, rule.cancel_on) == ("client.created", 2, ["note.added", "task.completed"])
    # Rows keep the order they stand in on the page.
    assert rule.conditions == [{"field": "client.country", "operator": "in", "value": ["GB", "AE"]},
                               {"field": "client.has_owner", "operator": "eq", "value": "true"}]
    assert [a["type"] for a in rule.actions] == ["create_task", "notify"]
    assert rule.actions[0]["due_in_hours"] == 4
    assert AuditLog.objects.filter(action="automation_rule.create", object_id=str(rule.code)).exists()


def test_editor_shows_each_problem_on_its_row(admin_client, brand):
    data = {
        "brand": "alpha", "name": "Broken", "trigger_choice": "__other__", "trigger_other": "kyc.submitted",
        "delay_hours": "0", "cancel_on": "",
        "cond-a1-field": "client.favourite_colour", "cond-a1-operator": "eq", "cond-a1-value": "blue",
        "act-b2-type": "create_task", "act-b2-title": "{% if %}", "act-b2-assignee": "owner",
        "act-b2-due_in_hours": "-3",
    }
    response = admin_client.post(reverse("automation_rule_create") + "?brand=alpha", data)
    body = response.content.decode()
    assert response.status_code == 400
    assert "Please correct the errors below." in body
    assert "Condition 1 (client.favourite_colour): the client has no such field." in body
    assert "Action 1 (create_task): Line 1: Unexpected end of expression in if tag." in body
    assert "Action 1 (create_task): Enter a number of hours from 0 to 8760." in body
    assert 'value="client.favourite_colour"' in body  # what was typed is kept
    assert not AutomationRule.objects.filter(name="Broken").exists()


def test_editing_keeps_a_trigger_not_in_the_list(admin_client, brand):
    rule = automation_rule_save(actor=None, brand=brand, name="Custom", trigger="partner.payout_sent",
                                conditions=[], actions=[{"type": "add_tag", "tag": "paid"}])
    body = admin_client.get(reverse("automation_rule_edit", args=[rule.code])).content.decode()
    assert 'value="partner.payout_sent"' in body


def test_htmx_rows_for_conditions_and_actions(admin_client, brand):
    row = admin_client.get(reverse("automation_condition_row"), **HTMX).content.decode()
    assert 'class="builder-row"' in row and "-operator" in row
    action = admin_client.get(reverse("automation_action_row"), {"brand": "alpha", "type": "create_task"},
                              **HTMX).content.decode()
    assert "-due_in_hours" in action and "-assignee" in action
    assert "add_to_segment" in action  # provided by the leads app at start-up
    changed = admin_client.get(reverse("automation_action_row"),
                               {"brand": "alpha", "token": "ab12", "act-ab12-type": "send_email"}, **HTMX)
    assert 'id="act-ab12"' in changed.content.decode() and "act-ab12-template" in changed.content.decode()


def test_run_log_shows_why_and_filters(admin_client, brand, agent, tag_rule, time_machine):
    time_machine.move_to(T0, tick=False)
    skipped_rule = automation_rule_save(
        actor=None, brand=brand, name="Only Germany", trigger="client.stage_changed",
        conditions=[{"field": "client.country", "operator": "eq", "value": "DE"}],
        actions=[{"type": "add_tag", "tag": "de"}])
    amira = make_client(brand=brand, owner=agent, first_name="Amira", country="GB")
    other = make_client(brand=brand, owner=agent, first_name="Bruno", country="GB")
    client_stage_change(actor=None, client=amira, stage="registered")
    client_stage_change(actor=None, client=other, stage="registered")
    events.dispatch_pending()
    assert AutomationRun.objects.count() == 4

    body = admin_client.get(reverse("automation_run_list")).content.decode()
    assert "4 runs" in body
    assert "Condition 1 failed: client.country equals DE — was &#x27;GB&#x27;." in body
    assert "All conditions held; 1 action(s) done." in body

    filtered = admin_client.get(reverse("automation_run_list"), {"status": RunStatus.SKIPPED,
                                                                  "client": str(amira.code)}, **HTMX)
    text = filtered.content.decode()
    assert "1 run" in text and "Only Germany" in text and "Tag registered" not in text
    by_rule = admin_client.get(reverse("automation_run_list"), {"rule": str(skipped_rule.code)}).content.decode()
    assert "2 runs" in by_rule
    unknown = admin_client.get(reverse("automation_run_list"), {"client": "not-a-code"}).content.decode()
    assert "No client has this code." in unknown and "0 runs" in unknown


    # More runs than a page holds: the footer says which ones and links the next page.
    from automation import views as automation_views

    automation_views.RUN_PAGE_SIZE = 3
    try:
        paged = admin_client.get(reverse("automation_run_list")).content.decode()
    finally:
        automation_views.RUN_PAGE_SIZE = 50
    assert "1–3 of 4" in paged and 'rel="next"' in paged


def test_playbook_button_seeds_once(admin_client, brand):
    admin_client.post(reverse("automation_playbook_seed"), {"brand": "alpha"})
    admin_client.post(reverse("automation_playbook_seed"), {"brand": "alpha"})
    assert AutomationRule.objects.filter(brand=brand).count() == len(PLAYBOOK)
    assert EmailTemplate.objects.filter(brand=brand).count() == len(PLAYBOOK_TEMPLATES)


def test_email_template_editor_validates_and_saves(admin_client, brand):
    url = reverse("email_template_create") + "?brand=alpha"
    bad = admin_client.post(url, {"brand": "alpha", "key": "welcome", "language": "en", "subject": "Hi",
                                  "body": "Hello\n{% for x in client.tags %}", "is_active": "on"})
    assert bad.status_code == 400
    assert "Line 2: Unclosed tag on line 2: &#x27;for&#x27;" in bad.content.decode()
    good = admin_client.post(url, {"brand": "alpha", "key": "welcome", "language": "en",
                                   "subject": "Hi {{ client.first_name }}", "body": "Hello", "is_active": "on"})
    assert good.status_code == 302
    template = EmailTemplate.objects.get(brand=brand, key="welcome")
    assert admin_client.get(reverse("email_template_list") + "?brand=alpha").content.decode().count("welcome") >= 1
    edit = admin_client.get(reverse("email_template_edit", args=[template.code]))
    assert edit.status_code == 200 and "Hi {{ client.first_name }}" in edit.content.decode()


def test_preview_uses_a_sample_or_a_real_client(admin_client, brand, agent, login_verified):
    automation_seed_playbook(brand=brand)
    client = make_client(brand=brand, owner=agent, first_name="Amira", last_name="Haddad")
    form = {"brand": "alpha", "key": "kyc_reminder", "language": "en",
            "subject": "Verify, {{ client.first_name }}", "body": "Dear {{ client.full_name }}\nthanks"}
    sample = admin_client.post(reverse("email_template_preview"), form, **HTMX).content.decode()
    assert "Verify, Layla" in sample and "Dear Layla Haddad" in sample
    # The HTML version is its own document in a sandboxed frame, for this administrator only, under a
    # policy that lets mail HTML keep its inline styles and runs no script.
    frame_url = re.search(r'<iframe class="mail-preview" sandbox="" [^>]*src="([^"]+)"', sample).group(1)
    frame = admin_client.get(frame_url)
    assert frame.status_code == 200 and frame.content.decode().startswith("<!doctype html>")
    assert "Dear Layla Haddad" in frame.content.decode()
    assert "style-src 'unsafe-inline'" in frame["Content-Security-Policy"]
    assert "script-src 'none'" in frame["Content-Security-Policy"]
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    other_admin = HttpClient()
    login_verified(other_admin, make_user(role_code=RoleCode.ADMIN, full_name="Otto Other"))
    assert other_admin.get(frame_url).status_code == 404
    real = admin_client.post(reverse("email_template_preview"), {**form, "client": str(client.code)},
                             **HTMX).content.decode()
    assert "Verify, Amira" in real and "For Amira Haddad" in real
    broken = admin_client.post(reverse("email_template_preview"), {**form, "body": "{{ client.nme }}"},
                               **HTMX).content.decode()
    assert "Unknown variable “client.nme”." in broken

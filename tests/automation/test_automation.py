"""The automation engine: rules judged once per event, delays, cancellation, conditions with
their why, failures rolled back, loop guards, the beat task and the playbook. Time is frozen."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection, transaction

from automation import services as automation
from automation.models import AutomationRule, AutomationRun, RunStatus
from automation.services import (
    automation_fire_due,
    automation_handle_event,
    automation_rule_save,
    automation_seed_playbook,
    run_explanation,
)
from crm import events
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Event, Notification, RoleCode, Task
from crm.registry import PLAYBOOK, PLAYBOOK_TEMPLATES
from crm.services import client_stage_change, client_stage_prove, client_update
from emails.models import EmailTemplate, OutboundEmail
from emails.services import email_template_save
from kyc.event_types import KYC_APPROVAL
from tests import event_payloads as payloads
from tests.factories import make_brand, make_client, make_desk, make_user
from tests.waiting import scaled

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(db, time_machine):
    time_machine.move_to(T0, tick=False)
    brand = make_brand(name="Alpha Markets")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mona Manager")
    desk = make_desk(brand=brand, name="London sales", manager=manager)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner")
    colleague = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Colin Colleague")
    admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
    client = make_client(brand=brand, owner=agent, first_name="Amira", last_name="Haddad",
                         email="amira@example.com", country="GB", language="en")
    email_template_save(actor=None, brand=brand, key="kyc_reminder", language="en",
                        subject="Finish your verification, {{ client.first_name }}",
                        body="Dear {{ client.first_name }},\nplease verify.")
    deliver()
    return SimpleNamespace(brand=brand, desk=desk, manager=manager, agent=agent, colleague=colleague, admin=admin,
                           client=client, time=time_machine)


def deliver() -> int:
    """What the Celery dispatcher does after commit."""
    return events.dispatch_pending()


def rule(brand, **values):
    values.setdefault("name", "Rule")
    values.setdefault("trigger", "client.stage_changed")
    values.setdefault("conditions", [])
    values.setdefault("actions", [{"type": "notify", "who": "owner", "title": "Registered: {{ client.full_name }}"}])
    return automation_rule_save(actor=None, brand=brand, **values)


def automation_notes(user):
    return list(Notification.objects.filter(user=user, kind="automation"))


def runs(r):
    return list(AutomationRun.objects.filter(rule=r).order_by("id"))


# --- firing once -----------------------------------------------------------------------------------

def test_rule_fires_once_when_the_same_event_is_delivered_twice(world):
    r = rule(world.brand, conditions=[{"field": "data.to", "operator": "eq", "value": "registered"}],
             actions=[{"type": "notify", "who": "owner", "title": "Registered: {{ client.full_name }}"},
                      {"type": "create_task", "title": "Call {{ client.first_name }}", "assignee": "owner",
                       "due_in_hours": 4}])
    client_stage_change(actor=world.agent, client=world.client, stage="registered")
    deliver()
    event = Event.objects.get(name="client.stage_changed", client=world.client)

    events.deliver_event(event)  # the outbox refuses a second delivery to the same handler
    assert automation_handle_event(event=event) == []  # and the engine refuses a second judgement

    [run] = runs(r)
    assert run.status == RunStatus.FIRED
    assert [n.title for n in automation_notes(world.agent)] == ["Registered: Amira Haddad"]
    task = Task.objects.get(client=world.client, title="Call Amira")
    assert task.assignee == world.agent
    assert task.due_at == T0 + timedelta(hours=4)
    assert [a["status"] for a in run.why["actions"]] == ["done", "done"]


def test_actions_are_attributed_to_the_rule_in_the_audit_trail(world):
    rule(world.brand, name="Tag registered", actions=[{"type": "add_tag", "tag": "Registered"}])
    client_stage_change(actor=world.agent, client=world.client, stage="registered")
    deliver()

    world.client.refresh_from_db()
    assert world.client.tags == ["registered"]
    row = AuditLog.objects.filter(action="client.update", object_id=str(world.client.code)).latest("id")
    assert row.actor_id is None
    assert row.actor_label == "automation:Tag registered"
    assert row.source == "automation"
    updated = Event.objects.filter(name="client.updated", client=world.client).latest("id")
    assert updated.actor_id is None


def test_other_brands_and_other_events_do_not_trigger_a_rule(world):
    r = rule(world.brand)
    other_brand = make_brand()
    other_client = make_client(brand=other_brand, first_name="Ben")
    client_stage_change(actor=None, client=other_client, stage="registered")
    client_update(actor=None, client=world.client, country="FR")
    deliver()
    assert runs(r) == []


# --- conditions ------------------------------------------------------------------------------------

def test_skipped_run_says_which_condition_failed_and_what_it_saw(world):
    r = rule(world.brand, conditions=[
        {"field": "data.to", "operator": "eq", "value": "registered"},
        {"field": "client.country", "operator": "in", "value": "DE, FR"},
    ])
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()

    [run] = runs(r)
    assert run.status == RunStatus.SKIPPED
    assert [c["ok"] for c in run.why["conditions"]] == [True, False]
    assert run.why["conditions"][1]["actual"] == "GB"
    explanation = run_explanation(run)
    assert "Condition 2 failed" in explanation
    assert "client.country" in explanation and "'GB'" in explanation
    assert automation_notes(world.agent) == []


@pytest.mark.parametrize(("condition", "holds"), [
    ({"field": "client.tags", "operator": "contains", "value": "vip"}, True),
    ({"field": "client.tags", "operator": "in", "value": ["lead", "vip"]}, True),
    ({"field": "client.email", "operator": "is_empty", "value": False}, True),
    ({"field": "client.phone", "operator": "is_empty", "value": True}, True),
    ({"field": "data.from", "operator": "ne", "value": "lead"}, False),
    ({"field": "data.missing", "operator": "eq", "value": "x"}, False),
    ({"field": "data.missing", "operator": "is_empty", "value": True}, True),
    ({"field": "client.age_hours", "operator": "gte", "value": 0}, True),
    ({"field": "client.age_hours", "operator": "lt", "value": "0"}, False),
    ({"field": "client.has_owner", "operator": "eq", "value": "true"}, True),
    ({"field": "client.stage", "operator": "not_in", "value": ["closed", "dormant"]}, True),
])
def test_condition_operators(world, condition, holds):
    client_update(actor=None, client=world.client, tags=["vip"])
    r = rule(world.brand, conditions=[condition])
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    [run] = runs(r)
    assert (run.status == RunStatus.FIRED) is holds, run.why


def test_personal_data_in_the_why_is_masked(world):
    r = rule(world.brand, conditions=[{"field": "client.email", "operator": "contains", "value": "zzz"}])
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    [run] = runs(r)
    assert "amira@example.com" not in str(run.why)


# --- validation ------------------------------------------------------------------------------------

def test_rule_validation_names_the_condition_number_and_field(world):
    with pytest.raises(ValidationFailed) as caught:
        rule(world.brand, conditions=[
            {"field": "data.to", "operator": "eq", "value": "registered"},
            {"field": "client.countryy", "operator": "eq", "value": "GB"},
            {"field": "client.age_hours", "operator": "gt", "value": "soon"},
            {"field": "client.stage", "operator": "eq", "value": "rich"},
        ])
    fields = caught.value.fields
    assert fields["conditions.1.field"] == ["Condition 2 (client.countryy): the client has no such field."]
    assert fields["conditions.2.value"] == ["Condition 3 (client.age_hours): enter a number."]
    assert fields["conditions.3.value"] == ["Condition 4 (client.stage): unknown stage rich."]
    assert "conditions.0.field" not in fields


def test_rule_validation_checks_actions_trigger_and_delay(world):
    with pytest.raises(ValidationFailed) as caught:
        rule(world.brand, trigger="Client Created!", cancel_on=["kyc.submitted"], actions=[
            {"type": "send_email", "template": "no_such_template"},
            {"type": "create_task", "title": "{% if %}", "assignee": "owner"},
            {"type": "launch_rockets"},
        ])
    fields = caught.value.fields
    assert "trigger" in fields
    assert fields["cancel_on"] == ["Cancelling events only apply to a delayed rule; set a delay."]
    assert "no active email template “no_such_template”" in fields["actions.0.template"][0]
    assert fields["actions.1.title"][0].startswith("Action 2 (create_task): Line 1:")
    assert fields["actions.2.type"] == ["Action 3 (launch_rockets): choose an action."]
    assert AutomationRule.objects.count() == 0


def test_only_administrators_may_write_rules(world):
    with pytest.raises(NotAllowed):
        automation_rule_save(actor=world.manager, brand=world.brand, name="x", trigger="client.created",
                             conditions=[], actions=[{"type": "add_tag", "tag": "x"}])
    saved = automation_rule_save(actor=world.admin, brand=world.brand, name="x", trigger="client.created",
                                 conditions=[], actions=[{"type": "add_tag", "tag": "x"}])
    assert AuditLog.objects.filter(action="automation_rule.create", object_id=str(saved.code)).exists()


# --- delays and cancellation ------------------------------------------------------------------------

def delayed_rule(world):
    return rule(world.brand, name="No KYC after a day", delay_hours=24, cancel_on=["kyc.submitted", "kyc.approved"],
                conditions=[{"field": "data.to", "operator": "eq", "value": "registered"}],
                actions=[{"type": "send_email", "template": "kyc_reminder"},
                         {"type": "create_task", "title": "Help {{ client.first_name }} verify", "assignee": "owner"}])


def test_delayed_rule_fires_after_its_delay_and_only_then(world):
    r = delayed_rule(world)
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    [run] = runs(r)
    assert run.status == RunStatus.SCHEDULED
    assert run.scheduled_for == T0 + timedelta(hours=24)

    world.time.move_to(T0 + timedelta(hours=23, minutes=59), tick=False)
    assert automation_fire_due() == 0
    assert not OutboundEmail.objects.exists()

    world.time.move_to(T0 + timedelta(hours=24), tick=False)
    assert automation_fire_due() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FIRED
    assert run.fired_at == T0 + timedelta(hours=24)
    email = OutboundEmail.objects.get(client=world.client)
    assert email.subject == "Finish your verification, Amira"
    assert email.sent_by == "automation:No KYC after a day"
    assert Task.objects.get(client=world.client, title="Help Amira verify").due_at == T0 + timedelta(hours=48)

    world.time.move_to(T0 + timedelta(hours=30), tick=False)
    assert automation_fire_due() == 0
    assert OutboundEmail.objects.count() == 1


def test_delayed_rule_is_cancelled_when_the_cancel_event_comes_first(world):
    r = delayed_rule(world)
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    world.time.move_to(T0 + timedelta(hours=3), tick=False)
    events.emit("kyc.submitted", client=world.client, data=payloads.kyc_submitted(documents=2))
    deliver()

    [run] = runs(r)
    assert run.status == RunStatus.CANCELLED
    assert run.why["params"]["event"] == "kyc.submitted"
    assert run_explanation(run) == "Cancelled: kyc.submitted happened first."
    world.time.move_to(T0 + timedelta(hours=25), tick=False)
    assert automation_fire_due() == 0
    assert not OutboundEmail.objects.exists()
    assert not Task.objects.filter(client=world.client).exists()


def test_beat_checks_for_a_cancel_event_not_yet_delivered(world):
    r = delayed_rule(world)
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    world.time.move_to(T0 + timedelta(hours=20), tick=False)
    events.emit("kyc.approved", client=world.client, data=payloads.kyc_approved())  # committed, but the dispatcher is behind

    world.time.move_to(T0 + timedelta(hours=24), tick=False)
    assert automation_fire_due() == 1
    [run] = runs(r)
    assert run.status == RunStatus.CANCELLED
    assert run.why["params"]["event"] == "kyc.approved"
    assert not OutboundEmail.objects.exists()


def test_cancel_event_before_the_trigger_does_not_cancel(world):
    r = delayed_rule(world)
    events.emit("kyc.submitted", client=world.client, data=payloads.kyc_submitted())
    world.time.move_to(T0 + timedelta(minutes=5), tick=False)
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    world.time.move_to(T0 + timedelta(hours=25), tick=False)
    automation_fire_due()
    assert runs(r)[0].status == RunStatus.FIRED


def test_scheduled_run_skips_when_the_client_no_longer_matches(world):
    r = rule(world.brand, delay_hours=2, conditions=[{"field": "client.stage", "operator": "eq",
                                                       "value": "registered"}])
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    client_stage_prove(client=world.client, proof=KYC_APPROVAL)
    deliver()
    world.time.move_to(T0 + timedelta(hours=2), tick=False)
    automation_fire_due()
    run = runs(r)[0]  # (the change to verified made a second, skipped run)
    assert run.status == RunStatus.SKIPPED
    assert run_explanation(run).startswith("When due, condition 1 no longer held")
    assert automation_notes(world.agent) == []


def test_switching_a_rule_off_cancels_its_waiting_runs(world):
    r = delayed_rule(world)
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    automation.automation_rule_set_active(actor=world.admin, rule=r, active=False)
    world.time.move_to(T0 + timedelta(hours=24), tick=False)
    automation_fire_due()
    assert runs(r)[0].status == RunStatus.CANCELLED
    assert runs(r)[0].why["reason"] == "rule_inactive"


@pytest.mark.django_db(transaction=True)
def test_overlapping_beat_ticks_fire_a_run_once(time_machine):
    time_machine.move_to(T0, tick=False)
    brand = make_brand()
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    client = make_client(brand=brand, owner=agent, first_name="Zed")
    r = rule(brand, delay_hours=1)
    client_stage_change(actor=None, client=client, stage="registered")
    deliver()
    time_machine.move_to(T0 + timedelta(hours=1), tick=False)

    other_tick: list[int] = []

    def second_tick() -> None:
        try:
            other_tick.append(automation_fire_due())
        finally:
            connection.close()

    with transaction.atomic():
        assert automation_fire_due() == 1  # fired, its row still locked: not committed yet
        thread = threading.Thread(target=second_tick)
        thread.start()
        thread.join(timeout=scaled(30))
    assert other_tick == [0]
    assert automation_fire_due() == 0
    assert AutomationRun.objects.get(rule=r).status == RunStatus.FIRED
    assert Notification.objects.filter(user=agent, kind="automation").count() == 1


# --- failures --------------------------------------------------------------------------------------

def test_failed_action_is_recorded_and_the_rest_of_the_run_rolled_back(world):
    # The colleague works for the brand but cannot see the client: task_create refuses.
    r = rule(world.brand, name="Tag then task", actions=[
        {"type": "add_tag", "tag": "hot"},
        {"type": "create_task", "title": "Call", "assignee": str(world.colleague.code)},
        {"type": "notify", "who": "owner", "title": "never sent"},
    ])
    last_event = Event.objects.latest("id").pk
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()

    [run] = runs(r)
    assert run.status == RunStatus.FAILED
    statuses = [(a["type"], a["status"]) for a in run.why["actions"]]
    assert statuses == [("add_tag", "rolled_back"), ("create_task", "failed"), ("notify", "not_run")]
    assert "cannot see the client" in run.why["actions"][1]["detail"]
    assert run_explanation(run) == "Action 2 (create_task) failed; the other actions were rolled back."
    world.client.refresh_from_db()
    assert world.client.tags == []
    assert not Task.objects.filter(client=world.client).exists()
    assert automation_notes(world.agent) == []
    # Only the stage change itself was recorded: the rolled-back tag left no client.updated event.
    assert list(Event.objects.filter(pk__gt=last_event).values_list("name", flat=True)) == ["client.stage_changed"]


def test_one_rule_failing_does_not_stop_the_next(world):
    bad = rule(world.brand, name="Bad", actions=[{"type": "create_task", "title": "x",
                                                  "assignee": str(world.colleague.code)}])
    good = rule(world.brand, name="Good")
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    assert runs(bad)[0].status == RunStatus.FAILED
    assert runs(good)[0].status == RunStatus.FIRED


def test_client_without_email_is_a_clear_skip_in_the_run_log(world):
    client = make_client(brand=world.brand, owner=world.agent, first_name="Nomail")
    r = rule(world.brand, actions=[{"type": "send_email", "template": "kyc_reminder"}])
    client_stage_change(actor=None, client=client, stage="registered")
    deliver()
    [run] = runs(r)
    assert run.status == RunStatus.FIRED
    assert run.why["actions"] == [{"index": 0, "type": "send_email", "status": "skipped",
                                   "detail": "The client has no email address."}]
    assert run_explanation(run) == "All conditions held; 0 action(s) done, 1 skipped (The client has no email address.)"
    assert not OutboundEmail.objects.exists()


def test_notify_without_an_owner_is_skipped_not_failed(world):
    client = make_client(brand=world.brand, first_name="Pool")
    r = rule(world.brand)
    client_stage_change(actor=None, client=client, stage="registered")
    deliver()
    run = runs(r)[0]
    assert run.status == RunStatus.FIRED
    assert run.why["actions"][0]["detail"] == "The client has no owner."


# --- loops and ordering ---------------------------------------------------------------------------

def test_an_action_does_not_retrigger_its_own_rule_for_the_same_client(world):
    r = rule(world.brand, name="Tag on update", trigger="client.updated",
             actions=[{"type": "add_tag", "tag": "touched"}, {"type": "notify", "who": "owner", "title": "Updated"}])
    client_update(actor=world.agent, client=world.client, country="FR")
    for _ in range(4):
        deliver()

    first, second = runs(r)
    assert first.status == RunStatus.FIRED
    assert second.status == RunStatus.SKIPPED
    assert second.why["reason"] == "loop_guard"
    assert second.chain == first.chain and second.depth == 1
    assert len(automation_notes(world.agent)) == 1


def test_rules_feeding_each_other_stop(world):
    a = rule(world.brand, name="A", trigger="task.created",
             actions=[{"type": "create_task", "title": "from A", "assignee": "owner"}])
    b = rule(world.brand, name="B", trigger="task.created",
             actions=[{"type": "create_task", "title": "from B", "assignee": "owner"}])
    from crm.services import task_create

    task_create(actor=world.agent, title="Start", assignee=world.agent, client=world.client)
    for _ in range(10):
        deliver()
    assert Task.objects.filter(client=world.client).count() == 3  # Start, then A and B once each
    assert {run.status for run in runs(a) + runs(b)} == {RunStatus.FIRED, RunStatus.SKIPPED}


def test_stop_processing_hides_the_event_from_later_rules(world):
    first = rule(world.brand, name="First", stop_processing=True)
    second = rule(world.brand, name="Second")
    automation.automation_rule_reorder(actor=None, brand=world.brand, codes=[str(first.code), str(second.code)])
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    assert runs(first)[0].status == RunStatus.FIRED
    assert runs(second)[0].status == RunStatus.SKIPPED
    assert run_explanation(runs(second)[0]) == "Skipped: rule “First” stops processing."


def test_inactive_rules_do_nothing(world):
    r = rule(world.brand, is_active=False)
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    assert runs(r) == []


# --- actions -------------------------------------------------------------------------------------

def test_assign_to_the_desk_queue_lets_the_manager_pick(world):
    rule(world.brand, actions=[{"type": "assign", "to": "desk_queue"}])
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    world.client.refresh_from_db()
    assert world.client.owner is None and world.client.desk == world.desk
    assert [n.title for n in automation_notes(world.manager)] == ["Pick an owner for Amira Haddad"]


def test_assign_to_a_named_agent(world):
    rule(world.brand, actions=[{"type": "assign", "to": str(world.colleague.code)},
                               {"type": "notify", "who": "owner", "title": "Yours now"}])
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    world.client.refresh_from_db()
    assert world.client.owner == world.colleague
    # The notify action saw the new owner.
    assert [n.title for n in automation_notes(world.colleague)] == ["Yours now"]


# --- the playbook ----------------------------------------------------------------------------------

def test_playbook_seeded_twice_creates_nothing_twice(world):
    brand = make_brand(name="Beta FX")
    first = automation_seed_playbook(brand=brand)
    # The playbook the apps registered: leads, kyc, wallet and trading (and the suite's test app).
    assert len(first.rules_created) == len(PLAYBOOK) >= 4
    # Every template the apps registered, in each of its languages: the KYC reminder and the KYC emails.
    expected = sorted(f"{t.key}:{t.language}" for t in PLAYBOOK_TEMPLATES)
    assert {"kyc_reminder:ar", "kyc_reminder:en", "kyc_rejected:ar"} <= set(expected)
    assert sorted(first.templates_created) == expected
    counts = (AutomationRule.objects.filter(brand=brand).count(), EmailTemplate.objects.filter(brand=brand).count())
    second = automation_seed_playbook(brand=brand)
    assert second.rules_created == [] and second.templates_created == []
    assert (AutomationRule.objects.filter(brand=brand).count(),
            EmailTemplate.objects.filter(brand=brand).count()) == counts == (len(PLAYBOOK), len(expected))


def test_playbook_reminds_a_registered_client_without_kyc_after_a_day(world):
    automation_seed_playbook(brand=world.brand)  # keeps the brand's own English kyc_reminder
    arabic = make_client(brand=world.brand, owner=world.agent, first_name="Layla", last_name="Nasser",
                         email="layla@example.com", language="ar")
    client_stage_change(actor=None, client=arabic, stage="registered")
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    world.time.move_to(T0 + timedelta(hours=1), tick=False)
    events.emit("kyc.submitted", client=world.client, data=payloads.kyc_submitted())
    deliver()
    world.time.move_to(T0 + timedelta(hours=24), tick=False)
    automation_fire_due()

    [email] = OutboundEmail.objects.all()
    assert email.client == arabic and email.language == "ar"
    assert email.subject == "Layla، أكمل التحقق من حسابك لدى Alpha Markets"
    assert Task.objects.filter(client=arabic, assignee=world.agent, title="Help Layla Nasser finish verification").exists()
    assert not Task.objects.filter(client=world.client).exists()


def test_playbook_first_deposit_and_inactivity(world):
    automation_seed_playbook(brand=world.brand)
    events.emit("wallet.first_deposit", client=world.client,
                data=payloads.first_deposit(amount="250.00", currency="USD"))
    events.emit("trading.account_inactive", client=world.client, data=payloads.account_inactive(days=12))
    events.emit("trading.account_inactive", client=world.client, data=payloads.account_inactive(days=5))
    deliver()
    [note] = automation_notes(world.agent)
    assert (note.title, note.body) == ("First deposit: Amira Haddad", "250.00 USD")
    assert Task.objects.filter(client=world.client, title="Win back Amira Haddad: no trade for 12 days").count() == 1


def test_playbook_puts_the_first_call_on_the_owners_list_without_a_second_notification(world):
    automation_seed_playbook(brand=world.brand)
    events.emit("lead.routed", client=world.client, data=payloads.lead_routed(owner=world.agent))
    deliver()
    [task] = Task.objects.filter(client=world.client)
    assert (task.title, task.assignee) == ("First call: Amira Haddad", world.agent)
    assert task.due_at == T0 + timedelta(hours=1)
    assert automation_notes(world.agent) == []  # the intake's own notification is the only one


def test_beat_task_is_registered_and_scheduled(settings):
    from crm.celery import app

    assert "crm.automation.automation_tick" in app.tasks
    assert settings.CELERY_BEAT_SCHEDULE["automation-tick"]["task"] == "crm.automation.automation_tick"


def test_a_rule_saved_by_another_process_is_seen_once_its_version_is_published(world):
    from django.core.cache import cache

    from automation import runner

    runner._relevant_pairs()  # this process has looked at the rules
    # Another process saves a rule (a raw row: its in-process cache clearing happened over there).
    r = AutomationRule.objects.create(brand=world.brand, name="Elsewhere", trigger="client.stage_changed",
                                      actions=[{"type": "add_tag", "tag": "seen"}])
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    assert runs(r) == []  # not yet known here

    cache.set(runner.RULES_VERSION_KEY, "published-by-the-other-process")
    runner._relevant["checked"] = 0.0  # a second has passed
    client_stage_prove(client=world.client, proof=KYC_APPROVAL)
    deliver()
    assert [run.status for run in runs(r)] == [RunStatus.FIRED]


def test_an_amount_threshold_keeps_every_decimal(world):
    # A float threshold would be 1000000000 here (a double holds about 16 digits), so an amount one
    # satoshi above a billion would count as "above 1000000000.00000001".
    r = rule(world.brand, trigger="wallet.first_deposit",
             conditions=[{"field": "data.amount", "operator": "gt", "value": "1000000000.00000001"}])
    assert r.conditions[0]["value"] == "1000000000.00000001"
    events.emit("wallet.first_deposit", client=world.client, actor=None,
                data=payloads.first_deposit(amount="1000000000.00000001", currency="BTC"))
    deliver()
    [run] = runs(r)
    assert run.status != RunStatus.FIRED, run.why

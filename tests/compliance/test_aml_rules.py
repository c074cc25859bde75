"""AML rules: each rule fires on a hand-made pattern at its threshold and not just beside it; an edit is a
new version and old alerts keep theirs; the same facts never raise two alerts; the dry run writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from compliance.aml import aml_evaluate_client, aml_periodic_pass, aml_rule_dry_run, aml_rule_version_add
from compliance.jurisdictions import jurisdiction_set
from compliance.models import AmlAlert, AmlRiskClass, AmlRuleKind
from compliance.selectors import aml_alert_count_for_client
from crm.exceptions import ValidationFailed
from crm.models import AuditLog, Event
from tests.compliance.aml_support import ago, deposit, rule, run, trade, trading_account, withdrawal, world
from tests.factories import make_client

pytestmark = pytest.mark.django_db

K = AmlRuleKind


# --- large single deposit or withdrawal --------------------------------------------------------------

def test_a_deposit_at_the_threshold_fires_and_one_cent_under_does_not():
    w = world()
    rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    under = deposit(w.client, "9999.99")
    at = deposit(w.client, "10000.00")
    alerts = run(w)
    assert [(a.client_id, a.transaction_ids, a.score) for a in alerts] == [(w.client.pk, [at.pk], 50)]
    assert under.pk not in alerts[0].transaction_ids
    assert alerts[0].facts["transactions"][0]["amount"].startswith("10000")


def test_a_large_withdrawal_fires_unless_the_rule_watches_deposits_only():
    w = world()
    deposit(w.client, "8000.00", at=ago(days=30))
    deposit(w.client, "8000.00", at=ago(days=29))
    wd = withdrawal(w.client, "15000.00")
    both = rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="deposit")
    assert run(w) == []
    aml_rule_version_add(rule=both, parameters={"amounts": {"USD": "10000"}, "direction": "both"}, actor=w.officer,
                         effective_from=ago(days=1))
    assert [a.transaction_ids for a in run(w)] == [[wd.pk]]


def test_a_currency_without_a_threshold_is_not_compared():
    w = world()
    rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    deposit(w.client, "50000.00", currency="EUR")
    assert run(w) == []


# --- structuring -------------------------------------------------------------------------------------

STRUCTURING = {"thresholds": {"USD": "10000"}, "band_percent": 10, "min_count": 3, "days": 7}


def test_three_deposits_just_under_the_threshold_within_the_days_fire():
    w = world()
    rule(w, K.STRUCTURING, **STRUCTURING)
    ids = [deposit(w.client, "9000.00", at=ago(days=6, hours=23)).pk, deposit(w.client, "9500.00", at=ago(days=3)).pk,
           deposit(w.client, "9999.99").pk]
    [alert] = run(w)
    assert alert.transaction_ids == sorted(ids)
    assert alert.facts["count"] == 3 and alert.score == 60


@pytest.mark.parametrize(("amounts", "first_days_ago"), [
    (("8999.99", "9500.00", "9999.99"), 3),  # one under the band
    (("9000.00", "9500.00", "10000.00"), 3),  # one at the threshold (the large rule's)
    (("9000.00", "9500.00", "9999.99"), 7.1),  # the first outside the days
])
def test_deposits_outside_the_band_or_the_days_do_not_count(amounts, first_days_ago):
    w = world()
    rule(w, K.STRUCTURING, **STRUCTURING)
    deposit(w.client, amounts[0], at=ago(days=first_days_ago))
    deposit(w.client, amounts[1], at=ago(days=1))
    deposit(w.client, amounts[2])
    assert run(w, since=ago(days=8)) == []


# --- rapid in and out --------------------------------------------------------------------------------

RAPID = {"days": 3, "withdrawn_percent": 80, "max_lots": "1", "min_amounts": {"USD": "1000"}}


def test_a_deposit_withdrawn_within_the_days_with_little_trading_fires():
    w = world()
    rule(w, K.RAPID_IN_OUT, **RAPID)
    account = trading_account(w.client)
    dep = deposit(w.client, "1000.00", at=ago(days=2, hours=23))
    trade(account, "0.99", at=ago(days=1))
    wd = withdrawal(w.client, "800.00")
    [alert] = run(w)
    assert alert.transaction_ids == sorted([dep.pk, wd.pk])
    assert alert.facts["lots"].startswith("0.99") and alert.facts["deposited"].startswith("1000")


@pytest.mark.parametrize(("lots", "withdrawn", "deposit_days_ago", "deposited"), [
    ("1.00", "800.00", 2, "1000.00"),  # traded the lots
    ("0", "799.99", 2, "1000.00"),  # withdrew under the share
    ("0", "900.00", 3.1, "1000.00"),  # the deposit is older than the days
    ("0", "900.00", 2, "999.99"),  # deposits under the smallest total
])
def test_rapid_in_and_out_does_not_fire_beside_its_thresholds(lots, withdrawn, deposit_days_ago, deposited):
    w = world()
    rule(w, K.RAPID_IN_OUT, **RAPID)
    account = trading_account(w.client)
    deposit(w.client, deposited, at=ago(days=deposit_days_ago))
    if lots != "0":
        trade(account, lots, at=ago(days=1))
    deposit(w.client, "5000.00", at=ago(days=30))  # funds the withdrawal; long before the days
    withdrawal(w.client, withdrawn)
    assert run(w) == []


# --- high-risk jurisdiction --------------------------------------------------------------------------

def test_a_movement_of_a_client_in_a_high_risk_country_fires_from_the_smallest_amount():
    w = world(country="IR")
    jurisdiction_set(brand=w.brand, country="IR", status="high_risk", by=None, effective_from=dt.date(2020, 1, 1))
    other = make_client(brand=w.brand, country="GB")
    rule(w, K.HIGH_RISK_JURISDICTION, statuses=["high_risk", "sanctioned"], min_amounts={"USD": "1000"})
    deposit(w.client, "999.99")
    at = deposit(w.client, "1000.00")
    deposit(other, "5000.00")
    [alert] = run(w)
    assert (alert.client_id, alert.transaction_ids, alert.score) == (w.client.pk, [at.pk], 60)
    assert alert.facts["country"] == "IR"


def test_a_country_allowed_or_of_a_status_the_rule_leaves_out_does_not_fire():
    w = world(country="IR")
    jurisdiction_set(brand=w.brand, country="IR", status="high_risk", by=None, effective_from=dt.date(2020, 1, 1))
    rule(w, K.HIGH_RISK_JURISDICTION, statuses=["sanctioned"], min_amounts={"USD": "0"})
    deposit(w.client, "5000.00")
    assert run(w) == []


# --- dormant account ---------------------------------------------------------------------------------

def _dormant_world(time_machine, *, last_movement_days_ago: float):
    now = timezone.now()
    time_machine.move_to(now - dt.timedelta(days=400))
    w = world()
    deposit(w.client, "100.00")
    time_machine.move_to(now - dt.timedelta(days=last_movement_days_ago))
    deposit(w.client, "50.00")
    time_machine.move_to(now)
    rule(w, K.DORMANT_ACCOUNT, inactive_days=180, amounts={"USD": "5000"})
    return w


def test_a_large_movement_after_the_inactive_days_fires(time_machine):
    w = _dormant_world(time_machine, last_movement_days_ago=181)
    deposit(w.client, "4999.99")
    assert run(w) == []  # under the amount; and it is a movement: the account is no longer dormant
    w2 = _dormant_world(time_machine, last_movement_days_ago=181)
    big = deposit(w2.client, "5000.00")
    [alert] = run(w2)
    assert alert.transaction_ids == [big.pk] and alert.client_id == w2.client.pk


def test_a_large_movement_within_the_inactive_days_of_another_does_not_fire(time_machine):
    w = _dormant_world(time_machine, last_movement_days_ago=179)
    deposit(w.client, "9000.00")
    assert run(w) == []


def test_a_new_client_is_not_dormant():
    w = world()
    rule(w, K.DORMANT_ACCOUNT, inactive_days=180, amounts={"USD": "5000"})
    deposit(w.client, "9000.00")
    assert run(w) == []


# --- versions, idempotency, the event, the dry run ---------------------------------------------------

def test_an_edit_is_a_new_version_and_old_alerts_keep_theirs():
    w = world()
    large = rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    deposit(w.client, "12000.00")
    [first] = run(w)
    v2 = aml_rule_version_add(rule=large, parameters={"amounts": {"USD": "5000"}, "direction": "both"},
                              actor=w.officer, note="lower threshold")
    deposit(w.client, "6000.00")
    [second] = run(w)
    first.refresh_from_db()
    assert (first.rule_version.number, second.rule_version.number) == (1, 2)
    assert first.rule_version.parameters["amounts"] == {"USD": "10000"}
    assert v2.number == 2 and large.versions.count() == 2


def test_the_same_facts_never_raise_two_alerts_whatever_runs_them():
    w = world()
    large = rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    deposit(w.client, "12000.00")
    assert len(run(w)) == 1
    assert run(w) == []  # again
    assert aml_evaluate_client(client_id=w.client.pk).raised == []  # the client's event
    aml_rule_version_add(rule=large, parameters={"amounts": {"USD": "9000"}, "direction": "both"}, actor=w.officer)
    assert run(w) == []  # a new version finds the same facts
    assert AmlAlert.objects.filter(client=w.client).count() == 1
    assert aml_alert_count_for_client(client_id=w.client.pk) == 1
    assert aml_alert_count_for_client(client_id=w.client.pk, since=timezone.now() + dt.timedelta(minutes=1)) == 0


def test_a_raised_alert_is_announced_and_audited_with_its_rule_and_version():
    w = world()
    rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    deposit(w.client, "20000.00")
    [alert] = run(w)
    event = Event.objects.get(name="compliance.alert_raised")
    assert event.data == {"alert_id": alert.pk, "rule": "large_transaction", "rule_version": 1, "score": 100}
    assert event.client_id is None  # not on the client's timeline (tipping off)
    assert AuditLog.objects.filter(action="compliance.alert_raised", object_id=str(alert.code)).exists()


def test_the_dry_run_shows_what_a_version_would_fire_and_changes_nothing():
    w = world()
    large = rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    deposit(w.client, "12000.00")
    [alert] = run(w)
    low = deposit(w.client, "6000.00", at=ago(days=10))
    v2 = aml_rule_version_add(rule=large, parameters={"amounts": {"USD": "5000"}, "direction": "both"},
                              actor=w.officer, effective_from=timezone.now() + dt.timedelta(days=1))
    counts = (AmlAlert.objects.count(), Event.objects.count(), AuditLog.objects.count())
    result = aml_rule_dry_run(version=v2)
    assert sorted(r.transaction_ids[0] for r in result.rows) == sorted([alert.transaction_ids[0], low.pk])
    assert [r.already_alerted for r in result.rows if r.transaction_ids == [low.pk]] == [False]
    assert result.new == 1
    assert (AmlAlert.objects.count(), Event.objects.count(), AuditLog.objects.count()) == counts


def test_bad_parameters_are_refused_by_name_and_nothing_is_stored():
    w = world()
    large = rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    with pytest.raises(ValidationFailed) as error:
        aml_rule_version_add(rule=large, parameters={"amounts": {"XXQ": "1", "USD": "-5"}, "direction": "up",
                                                     "days": 3}, actor=w.officer)
    assert set(error.value.fields) == {"parameters.amounts", "parameters.direction", "parameters.days"}
    with pytest.raises(ValidationFailed) as error:
        aml_rule_version_add(rule=large, parameters={"amounts": {"USD": 1.5}, "direction": "both"}, actor=w.officer)
    assert set(error.value.fields) == {"parameters.amounts"}
    assert large.versions.count() == 1


def test_a_rule_for_a_risk_class_waits_for_the_clients_risk_classes():
    w = world()
    rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    from compliance.aml import aml_rule_create

    aml_rule_create(brand=w.brand, kind=K.LARGE_TRANSACTION, name="High risk large", risk_class=AmlRiskClass.HIGH,
                    parameters={"amounts": {"USD": "1000"}, "direction": "both"}, actor=w.officer,
                    effective_from=ago(days=1))
    deposit(w.client, "5000.00")
    assert run(w) == []


def test_the_periodic_pass_reads_each_window_once(time_machine):
    w = world()
    rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    deposit(w.client, "15000.00")
    time_machine.move_to(timezone.now() + dt.timedelta(minutes=5))
    first = aml_periodic_pass()
    assert first.raised == 1
    deposit(w.client, "16000.00")
    time_machine.move_to(timezone.now() + dt.timedelta(minutes=5))
    second = aml_periodic_pass()
    assert second.since == first.until and second.raised == 1
    assert AmlAlert.objects.filter(client=w.client).count() == 2


def test_an_alerts_summary_gives_amounts_as_people_read_them():
    w = world()
    rule(w, K.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    rule(w, K.STRUCTURING, **STRUCTURING)
    deposit(w.client, "12345.5")
    [large] = run(w)
    assert large.summary == "deposit of 12,345.50 USD (threshold 10,000.00)"
    for amount in ("9500.00", "9600.00", "9700.00"):
        deposit(w.client, amount)
    alerts = run(w)
    [structuring] = [a for a in alerts if a.rule.kind == K.STRUCTURING]
    assert structuring.summary == "3 deposits totalling 28,800.00 USD, each just under 10,000.00, within 7 days"

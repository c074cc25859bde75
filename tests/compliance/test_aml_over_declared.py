"""AML rule over_declared: a client's deposits of the last days against what the client declared in KYC's
questionnaire (income and savings, each answer at its upper bound), read through KYC's published view. Edges
of the threshold, the days, the currency and the latest response; at most one alert per client in the days;
and a small labelled set scored for precision and recall."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from compliance.aml import DEFAULT_PARAMETERS, aml_rule_dry_run
from compliance.models import AmlAlert, AmlRuleKind
from crm.exceptions import ValidationFailed
from kyc.models import QuestionnaireVersion
from kyc.questionnaire import questionnaire_submit
from kyc.questionnaire_demo import ANSWERS_APPROPRIATE
from tests.compliance.aml_support import ago, deposit, rule, run, withdrawal, world
from tests.factories import make_client

pytestmark = pytest.mark.django_db

K = AmlRuleKind
PARAMS = DEFAULT_PARAMETERS[K.OVER_DECLARED]  # 90 days, 100 %, annual_income + savings, USD


def declare(client: Any, **answers: Any) -> None:
    """The client answers the brand's questionnaire (the demo one: income 15k_50k and savings 5k_25k,
    75,000 USD declared, unless `answers` say otherwise)."""
    if not QuestionnaireVersion.objects.filter(questionnaire__brand_id=client.brand_id, status="published").exists():
        call_command("kyc_questionnaire_seed", stdout=io.StringIO())
    version = QuestionnaireVersion.objects.get(questionnaire__brand_id=client.brand_id, status="published")
    questionnaire_submit(actor=None, client=client, version=version, answers={**ANSWERS_APPROPRIATE, **answers})


def over_declared(w: Any, **overrides: Any) -> Any:
    return rule(w, K.OVER_DECLARED, **{**PARAMS, **overrides})


def test_deposits_reaching_the_declared_fire_and_one_cent_under_do_not():
    w = world()
    over_declared(w)
    declare(w.client)
    deposit(w.client, "40000.00", at=ago(days=60))
    deposit(w.client, "34999.99", at=ago(days=1))
    assert run(w) == []
    last = deposit(w.client, "0.01")
    [alert] = run(w)
    assert alert.client_id == w.client.pk and last.pk in alert.transaction_ids and len(alert.transaction_ids) == 3
    assert alert.facts["declared"].startswith("75000") and alert.facts["total"].startswith("75000")
    assert alert.facts["answers"] == {"annual_income": "15k_50k", "savings": "5k_25k"}
    assert alert.score == 60
    assert alert.summary == ("3 deposits totalling 75,000.00 USD within 90 days: 100% of the 75,000.00 USD the client "
                             "declared (annual_income 15k_50k, savings 5k_25k); the rule fires from 100%")


def test_a_deposit_before_the_days_and_deposits_in_another_currency_do_not_count():
    w = world()
    over_declared(w)
    declare(w.client)
    deposit(w.client, "40000.00", at=ago(days=90, hours=1))  # just outside the 90 days of the last deposit
    deposit(w.client, "50000.00", currency="EUR")
    deposit(w.client, "40000.00")
    assert run(w, since=ago(days=100)) == []


def test_a_client_who_has_not_answered_or_whose_answers_the_rule_does_not_price_raises_nothing():
    w = world()
    over_declared(w, ceilings={"15k_50k": "50000"}, questions=["annual_income"])
    deposit(w.client, "500000.00")  # never answered
    answered = make_client(brand=w.brand, country="GB")
    declare(answered, annual_income="over_100k")  # an answer without an amount counts as nothing
    deposit(answered, "500000.00")
    assert run(w) == []


def test_the_latest_response_counts(time_machine):
    w = world()
    over_declared(w, percent=50)
    declare(w.client)  # 75,000 declared: fires from 37,500
    time_machine.move_to(timezone.now() + dt.timedelta(hours=25))  # the retake rule: a day between answers
    declare(w.client, annual_income="over_100k", savings="25k_100k")  # 350,000: fires from 175,000
    deposit(w.client, "100000.00")
    assert run(w) == []
    deposit(w.client, "75000.00")
    [alert] = run(w)
    assert alert.facts["declared"].startswith("350000") and alert.facts["answers"]["annual_income"] == "over_100k"


def test_withdrawals_do_not_reduce_the_deposits_that_came_in():
    w = world()
    over_declared(w)
    declare(w.client)
    deposit(w.client, "50000.00", at=ago(days=10))
    withdrawal(w.client, "45000.00", at=ago(days=9))
    deposit(w.client, "25000.00")
    [alert] = run(w)
    assert alert.facts["total"].startswith("75000")


def test_one_alert_per_client_in_the_days_then_a_new_one_when_still_out_of_line(time_machine):
    w = world()
    over_declared(w, days=30)
    declare(w.client)
    deposit(w.client, "80000.00")
    [first] = run(w)
    deposit(w.client, "1000.00")  # the same pattern grown by one deposit: no second alert
    assert run(w) == []
    time_machine.move_to(timezone.now() + dt.timedelta(days=31))
    deposit(w.client, "76000.00")  # 76,000 in the last 30 days: out of line again
    [second] = run(w)
    assert second.pk != first.pk and AmlAlert.objects.filter(client=w.client).count() == 2


def test_the_dry_run_finds_it_and_writes_nothing():
    w = world()
    version = over_declared(w).versions.get()
    declare(w.client)
    deposit(w.client, "90000.00")
    dry = aml_rule_dry_run(version=version)
    assert [r.client_id for r in dry.rows] == [w.client.pk] and not AmlAlert.objects.exists()


@pytest.mark.parametrize(("parameters", "field"), [
    ({"questions": ["Annual Income"]}, "parameters.questions"),
    ({"questions": []}, "parameters.questions"),
    ({"ceilings": {"under_15k": "-1"}}, "parameters.ceilings"),
    ({"ceilings": {"under_15k": 1.5}}, "parameters.ceilings"),  # a float is never an amount
    ({"currency": "XYZ1"}, "parameters.currency"),
    ({"percent": 0}, "parameters.percent"),
])
def test_bad_parameters_are_refused_by_name(parameters, field):
    w = world()
    with pytest.raises(ValidationFailed) as caught:
        over_declared(w, **parameters)
    assert field in caught.value.fields


def test_the_rule_edit_page_takes_answers_and_questions_as_written(client, login_verified):
    """The rule's page: the amounts of answers written "under_15k 15000, ..." and the questions as a list."""
    from django.urls import reverse

    w = world()
    r = over_declared(w)
    login_verified(client, w.officer)
    page = client.get(reverse("compliance_aml_rule", args=[r.code]))
    assert page.status_code == 200 and "under_15k 15000" in page.content.decode()
    answer = client.post(reverse("compliance_aml_rule", args=[r.code]), {
        "days": "60", "percent": "150", "questions": "annual_income, savings", "currency": "USD",
        "ceilings": "under_15k 15000, 15k_50k 60000, UNDER 5", "note": "wider"})
    assert answer.status_code == 400 and "is not a questionnaire code" in answer.content.decode()
    assert r.versions.count() == 1
    good = client.post(reverse("compliance_aml_rule", args=[r.code]), {
        "days": "60", "percent": "150", "questions": "annual_income, savings", "currency": "USD",
        "ceilings": "under_15k 15000, 15k_50k 60000", "note": "wider"})
    assert good.status_code == 302
    latest = r.versions.order_by("-number").first()
    assert latest.number == 2 and latest.parameters == {
        "days": 60, "percent": 150, "questions": ["annual_income", "savings"], "currency": "USD",
        "ceilings": {"under_15k": "15000", "15k_50k": "60000"}}


# --- the labelled set ---------------------------------------------------------------------------------
# Hand-made clients an officer would (1) or would not (0) want to look at, against the default rule (90 days,
# 100 % of income + savings at their upper bounds, USD). Each: answers (None: never answered), deposits as
# (days ago, amount, currency), the label, and why. The rule's known blind spots are in it on purpose (nothing
# declared; deposits in another currency): they count against its recall.

LABELLED: list[tuple[str, dict[str, str] | None, list[tuple[float, str, str]], int]] = [
    ("at the declared", {}, [(30, "40000", "USD"), (0, "35000", "USD")], 1),
    ("one cent under", {}, [(30, "40000", "USD"), (0, "34999.99", "USD")], 0),
    ("one large deposit", {}, [(0, "76000", "USD")], 1),
    ("many small deposits adding up", {}, [(d, "5000", "USD") for d in range(0, 80, 5)], 1),
    ("steady saver", {}, [(d, "1000", "USD") for d in range(0, 90, 10)], 0),
    ("spread over more than the days", {}, [(120, "40000", "USD"), (100, "20000", "USD"), (0, "30000", "USD")], 0),
    ("low income, modest deposits", {"annual_income": "under_15k", "savings": "under_5k"},
     [(0, "15000", "USD")], 0),
    ("low income, large deposits", {"annual_income": "under_15k", "savings": "under_5k"},
     [(40, "12000", "USD"), (0, "9000", "USD")], 1),
    ("wealthy, large deposits", {"annual_income": "over_100k", "savings": "over_100k"},
     [(0, "300000", "USD")], 0),
    ("wealthy, far beyond", {"annual_income": "over_100k", "savings": "over_100k"},
     [(20, "300000", "USD"), (0, "250000", "USD")], 1),
    ("middle income, half", {"annual_income": "50k_100k", "savings": "25k_100k"},
     [(0, "100000", "USD")], 0),
    ("middle income, over", {"annual_income": "50k_100k", "savings": "25k_100k"},
     [(50, "100000", "USD"), (0, "100000", "USD")], 1),
    ("never answered, large deposits", None, [(0, "200000", "USD")], 1),  # blind spot: nothing declared
    ("never answered, small deposits", None, [(0, "500", "USD")], 0),
    ("euro deposits over the declared", {}, [(0, "90000", "EUR")], 1),  # blind spot: another currency
    ("euro deposits, small", {}, [(0, "900", "EUR")], 0),
]


def test_the_labelled_set_precision_and_recall(capsys):
    w = world()
    over_declared(w)
    clients = {}
    for name, answers, deposits, _label in LABELLED:
        c = make_client(brand=w.brand, country="GB")
        clients[name] = c
        if answers is not None:
            declare(c, **answers)
        for days_ago, amount, currency in sorted(deposits, key=lambda d: -d[0]):
            deposit(c, amount, at=ago(days=days_ago), currency=currency)
    alerted = {a.client_id for a in run(w)}
    tp = sum(1 for name, *_, label in LABELLED if label and clients[name].pk in alerted)
    fp = sum(1 for name, *_, label in LABELLED if not label and clients[name].pk in alerted)
    fn = sum(1 for name, *_, label in LABELLED if label and clients[name].pk not in alerted)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    with capsys.disabled():
        print(f"\nover_declared labelled set: {len(LABELLED)} clients, tp={tp} fp={fp} fn={fn} "
              f"precision={precision:.3f} recall={recall:.3f}")
    missed = sorted(name for name, *_, label in LABELLED if label and clients[name].pk not in alerted)
    assert missed == ["euro deposits over the declared", "never answered, large deposits"]
    assert (precision, recall) == (1.0, 0.75)  # 6 of the 8 found, no false alarm

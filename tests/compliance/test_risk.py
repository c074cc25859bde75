"""The client risk score: each factor adds its points (country, PEP or confirmed hit, occupation and
source of funds, deposits against what was declared, payment methods, account age); the brand's model
is data, versioned; the score is recomputed on the events that change a factor and kept with its
history; high risk opens the enhanced due diligence task; each band dates the periodic review, which
a beat pass raises once; the Compliance tab shows it to officers only; the staff API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from compliance.models import RiskScore
from compliance.risk import (
    FACTORS,
    risk_model_save,
    risk_reviews_raise,
    risk_score_compute,
)
from compliance.services import client_screen, jurisdiction_set, screening_hit_decide, watchlist_load
from compliance.watchlists.parsers import SourceFile
from crm import events
from crm.celery import app as celery_app
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.money import Money
from crm.models import AuditLog, Client, Event, RoleCode, Task
from crm.services import client_update
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def world(db, settings):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "2"  # one officer decides (four-eyes is screening's own test)
    brand = make_brand()
    desk = make_desk(brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Risk Officer")
    client = make_client(actor=agent, brand=brand, first_name="Lena", last_name="Berg", email="lena@example.com",
                         country="DE")
    return SimpleNamespace(brand=brand, desk=desk, agent=agent, officer=officer, client=client)


def score(world: Any, trigger: str = "test", **kw: Any) -> RiskScore:
    row = risk_score_compute(client_id=world.client.pk, trigger=trigger, **kw)
    assert row is not None
    return row


def points(row: RiskScore) -> dict[str, int]:
    return {f["key"]: f["points"] for f in row.factors}


def found(row: RiskScore, key: str) -> str:
    return next(f["value"] for f in row.factors if f["key"] == key)


def _only(world: Any, *keys: str, **params: dict[str, Any]) -> None:
    """A model where only `keys` count (so one factor's points are read alone)."""
    factors = {k: {"enabled": k in keys, **params.get(k, {})} for k in FACTORS}
    risk_model_save(brand=world.brand, by=world.officer, factors=factors, medium_from=30, high_from=60)


# --- each factor -----------------------------------------------------------------------------------

def test_a_new_client_of_an_ordinary_country_is_low_risk_with_each_factor_listed(world):
    row = score(world)
    assert row.band == "low" and row.score == points(row)["account_age"] + points(row)["source_of_funds"]
    assert set(points(row)) == {"country", "nationality", "screening", "occupation", "source_of_funds",
                                "deposits_vs_declared", "payment_methods", "alerts", "chargebacks", "account_age"}
    assert points(row)["nationality"] == 0 and found(row, "nationality") == "Not recorded"
    assert points(row)["country"] == 0 and found(row, "country").startswith("DE")
    assert points(row)["account_age"] == 10  # a new account
    assert points(row)["source_of_funds"] == 10 and found(row, "source_of_funds") == "Not declared"


def test_a_high_risk_or_sanctioned_country_adds_its_points(world):
    jurisdiction_set(brand=world.brand, country="DE", status="high_risk", by=world.officer)
    assert points(score(world))["country"] == 40
    jurisdiction_set(brand=world.brand, country="DE", status="sanctioned", by=world.officer)
    row = score(world)
    assert points(row)["country"] == 100 and row.band == "high"


def test_a_nationality_of_a_high_risk_or_sanctioned_country_adds_its_points_and_a_change_rescores(world, deliver):
    jurisdiction_set(brand=world.brand, country="IR", status="sanctioned", by=world.officer)
    assert points(score(world))["nationality"] == 0  # living in Germany, no nationality recorded
    client_update(actor=world.agent, client=world.client, nationality="IR")
    deliver()
    latest = RiskScore.objects.filter(client=world.client).order_by("-pk").first()
    assert latest is not None and points(latest)["nationality"] == 60 and found(latest, "nationality") == "IR: Sanctioned"
    assert points(latest)["country"] == 0


def test_a_confirmed_pep_hit_adds_its_points_and_an_open_one_does_not(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        watchlist_load(name="PEP", fmt="pep-csv", files=[SourceFile("pep.csv", (FIXTURES / "pep.csv").read_bytes())])
    client = make_client(actor=world.agent, brand=world.brand, first_name="Nurlan", last_name="Abdrakhmanov",
                         email="nurlan@example.com", country="KZ", date_of_birth=dt.date(1970, 11, 3))
    world.client = client
    [hit] = client_screen(client_id=client.pk, trigger="details_changed")
    assert points(score(world))["screening"] == 0
    screening_hit_decide(hit=hit, actor=world.officer, action="confirm", reason="Same person, same position")
    row = score(world)
    assert points(row)["screening"] == 40 and "Politically exposed" in found(row, "screening")


def _questionnaire(world: Any, **answers: str) -> None:
    from kyc.models import QuestionnaireVersion
    from kyc.questionnaire import questionnaire_submit
    from kyc.questionnaire_demo import ANSWERS_APPROPRIATE

    call_command("kyc_questionnaire_seed", stdout=open("/dev/null", "w"))  # noqa: SIM115
    version = QuestionnaireVersion.objects.get(questionnaire__brand=world.brand, status="published")
    questionnaire_submit(actor=None, client=world.client, version=version, answers={**ANSWERS_APPROPRIATE, **answers})


def test_source_of_funds_and_occupation_come_from_the_questionnaire_with_the_brands_points(world):
    _questionnaire(world, source_of_funds="borrowed")
    row = score(world)
    assert points(row)["source_of_funds"] == 20 and found(row, "source_of_funds") == "borrowed"
    # The occupation question is the brand's to name and price (the example asks about education or work).
    _only(world, "occupation", "source_of_funds",
          occupation={"question": "education", "points": {"finance_work": 5, "other": 25}},
          source_of_funds={"points": {"borrowed": 35}})
    row = score(world)
    assert points(row) == {"occupation": 25, "source_of_funds": 35} and row.band == "high"
    assert row.model_version == 1


def _deposit(world: Any, amount: str, n: int) -> None:
    from wallet.demo import demo_wire_deposit, demo_wire_methods, demo_wire_provider

    wire = demo_wire_provider()
    demo_wire_methods(brand=world.brand, wire=wire)
    demo_wire_deposit(provider=wire, client=world.client, amount=Money(amount, "USD"), at=timezone.now(), n=n)


def test_deposits_are_weighed_against_the_declared_income_and_savings(world):
    _questionnaire(world)  # income 15k-50k (50,000) and savings 5k-25k (25,000): 75,000 declared
    assert points(score(world))["deposits_vs_declared"] == 0
    _deposit(world, "30000", 1)  # 40 %
    assert points(score(world))["deposits_vs_declared"] == 0
    _deposit(world, "10000", 2)  # 53 %: above half
    row = score(world)
    assert points(row)["deposits_vs_declared"] == 15 and "40000" in found(row, "deposits_vs_declared")
    _deposit(world, "36000", 3)  # 101 %
    assert points(score(world))["deposits_vs_declared"] == 40


def test_deposits_with_nothing_declared_add_the_undeclared_points(world):
    _deposit(world, "500", 1)
    assert points(score(world))["deposits_vs_declared"] == 20


def test_payment_methods_beyond_the_brands_number_add_points(world):
    _deposit(world, "500", 1)
    assert points(score(world))["payment_methods"] == 0  # one method, two allowed
    _only(world, "payment_methods", payment_methods={"more_than": 0, "per_extra": 7})
    row = score(world)
    assert points(row) == {"payment_methods": 7} and found(row, "payment_methods") == "1 payment methods"


def test_account_age_counts_only_while_the_account_is_new(world):
    assert points(score(world))["account_age"] == 10
    with time_machine.travel(timezone.now() + dt.timedelta(days=31)):
        assert points(score(world))["account_age"] == 0


# --- the model, the history ----------------------------------------------------------------------------

def test_the_brands_model_is_versioned_and_audited_and_bad_input_is_named(world):
    first = risk_model_save(brand=world.brand, by=world.officer, factors={"country": {"high_risk": 55}},
                            medium_from=20, high_from=50, review_months={"high": 6})
    second = risk_model_save(brand=world.brand, by=world.officer, factors={}, medium_from=25, high_from=50)
    assert (first.version, second.version, first.review_months_high) == (1, 2, 6)
    assert AuditLog.objects.filter(action="compliance.risk_model_saved").count() == 2
    with pytest.raises(ValidationFailed) as bad:
        risk_model_save(brand=world.brand, by=world.officer, factors={"horoscope": {}, "country": {"sanctioned": -1}},
                        medium_from=50, high_from=40, review_months={"low": 0})
    assert set(bad.value.fields) == {"factors", "high_from", "review_months_low"}
    assert "horoscope" in bad.value.fields["factors"][0] and "sanctioned" in bad.value.fields["factors"][1]
    with pytest.raises(NotAllowed):
        risk_model_save(brand=world.brand, by=world.agent, factors={}, medium_from=1, high_from=2)
    assert second.version == 2 and world.brand.pk  # nothing more was written
    from compliance.models import RiskModel

    assert RiskModel.objects.filter(brand=world.brand).count() == 2


def test_each_change_is_kept_with_each_factors_contribution_and_no_change_writes_nothing(world):
    first = score(world)
    assert score(world).pk == first.pk  # nothing changed
    jurisdiction_set(brand=world.brand, country="DE", status="high_risk", by=world.officer)
    second = score(world, trigger="compliance.jurisdiction_changed")
    assert second.pk != first.pk and (second.previous_band, second.band) == ("low", "high")
    assert points(second)["country"] == 40 and points(first)["country"] == 0
    assert list(RiskScore.objects.filter(client=world.client).values_list("band", flat=True)) == ["high", "low"]
    changed = Event.objects.filter(name="compliance.risk_changed").order_by("id").last()
    assert changed.client_id is None and changed.data["client"] == str(world.client.code)  # not on the timeline
    assert changed.data["band"] == "high" and changed.data["previous"] == "low" and changed.data["points"] == 60


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True

    def run() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            events.dispatch_pending()

    yield run
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def test_the_events_that_change_a_factor_recompute_the_score(world, deliver):
    deliver()
    [created] = RiskScore.objects.filter(client=world.client)
    assert created.trigger == "client.created"
    jurisdiction_set(brand=world.brand, country="FR", status="high_risk", by=world.officer)
    deliver()  # no client of the brand lives in FR yet: nobody is rescored
    assert RiskScore.objects.filter(client=world.client).count() == 1
    client_update(actor=world.agent, client=world.client, country="FR")
    deliver()
    latest = RiskScore.objects.filter(client=world.client).first()
    assert latest.trigger == "client.updated" and points(latest)["country"] == 40
    client_update(actor=world.agent, client=world.client, phone="+442071838750")  # not a factor
    deliver()
    assert RiskScore.objects.filter(client=world.client).count() == 2


# --- high risk: due diligence and the periodic review ----------------------------------------------------

def test_high_risk_opens_the_due_diligence_task_once_and_dates_the_review_by_band(world):
    low = score(world)
    assert low.review_due == _months_ahead(36) and low.edd_task is None
    jurisdiction_set(brand=world.brand, country="DE", status="sanctioned", by=world.officer)
    high = score(world)
    assert high.band == "high" and high.review_due == _months_ahead(12)
    task = Task.objects.get(pk=high.edd_task_id)
    # Compliance's task, linking the client's Compliance tab; not the client's (the sales floor reads those).
    assert task.assignee_id == world.officer.pk and task.client_id is None and str(world.client.code) in task.description
    assert "Enhanced due diligence" in task.title and "sanction" not in task.title.lower()
    # Still high on another change: no second task.
    _deposit(world, "500", 1)
    again = score(world)
    assert again.pk != high.pk and again.band == "high" and again.edd_task_id is None
    assert again.review_due == high.review_due
    assert Task.objects.filter(title__startswith="Enhanced").count() == 1


def _months_ahead(months: int) -> dt.date:
    from compliance.risk import _add_months

    return _add_months(timezone.localdate(), months)


def test_the_review_period_of_each_band_is_the_brands(world):
    risk_model_save(brand=world.brand, by=world.officer, factors={}, medium_from=5, high_from=60,
                    review_months={"low": 48, "medium": 18, "high": 3})
    row = score(world)
    assert row.band == "medium" and row.review_due == _months_ahead(18)


def test_a_review_that_falls_due_is_raised_once_and_an_officers_review_dates_the_next(world):
    row = score(world)
    assert risk_reviews_raise() == 0
    later = row.review_due + dt.timedelta(days=1)
    with time_machine.travel(dt.datetime.combine(later, dt.time(6), tzinfo=dt.UTC)):
        assert risk_reviews_raise() == 1
        assert risk_reviews_raise() == 0
        task = Task.objects.get(title__startswith="Periodic review", description__contains=str(world.client.code))
        assert task.assignee_id == world.officer.pk
        reviewed = score(world, trigger="review", actor=world.officer, review=True)
        assert reviewed.review_due == _months_ahead(36) and reviewed.review_raised_at is None
    with pytest.raises(NotAllowed):
        score(world, trigger="review", actor=world.agent, review=True)


# --- pages and API ----------------------------------------------------------------------------------------

def test_the_compliance_tab_shows_the_score_its_factors_and_history_to_officers_only(world, client, login_verified):
    score(world)
    jurisdiction_set(brand=world.brand, country="DE", status="high_risk", by=world.officer)
    score(world)
    url = f"{reverse('client_detail', args=[world.client.code])}?tab=compliance"
    login_verified(client, world.officer)
    page = client.get(url).content.decode()
    assert 'data-section="risk"' in page and 'data-band="high"' in page and "data-risk-edd" in page
    assert 'data-factor="country"' in page and 'data-contribution="country"' in page
    assert page.count("data-risk-score=") == 2
    response = client.post(reverse("compliance_risk_review", args=[world.client.code]))
    assert response.status_code == 302 and RiskScore.objects.filter(client=world.client).count() == 3
    client.logout()
    login_verified(client, world.agent)
    page = client.get(url).content.decode()
    assert 'data-section="risk"' not in page
    assert client.post(reverse("compliance_risk_review", args=[world.client.code])).status_code in (403, 404)


def test_the_api_reads_the_score_and_records_a_review(world, client, login_verified):
    score(world)
    login_verified(client, world.officer)
    body = client.get(f"/api/v1/compliance/clients/{world.client.code}/risk").json()
    assert body["current"]["band"] == "low" and len(body["history"]) == 1
    assert {f["key"] for f in body["current"]["factors"]} >= {"country", "account_age"}
    reviewed = client.post(f"/api/v1/compliance/clients/{world.client.code}/risk/review")
    assert reviewed.status_code == 201 and reviewed.json()["trigger"] == "review", reviewed.content
    model = client.get(f"/api/v1/compliance/risk-model?brand={world.brand.code}").json()
    assert model["version"] == 0 and model["high_from"] == 60
    client.logout()
    login_verified(client, world.agent)
    assert client.get(f"/api/v1/compliance/clients/{world.client.code}/risk").status_code == 404


# --- the demo ----------------------------------------------------------------------------------------------

def test_the_demo_scores_every_client_once_and_makes_one_high_risk_with_its_due_diligence_task(world):
    import io

    call_command("kyc_questionnaire_seed", stdout=io.StringIO())
    nigerian = make_client(actor=world.agent, brand=world.brand, first_name="Chidi", last_name="Okafor",
                           email="chidi@example.com", country="NG", stage="funded")
    out = io.StringIO()
    call_command("compliance_seed_demo_restrictions", stdout=out)  # NG: increased monitoring (high risk)
    call_command("compliance_seed_demo_risk", stdout=out)
    high = RiskScore.objects.get(client=nigerian)
    assert high.band == "high" and points(high)["country"] == 40 and points(high)["source_of_funds"] == 20
    assert Task.objects.get(pk=high.edd_task_id).assignee_id == world.officer.pk
    assert RiskScore.objects.filter(client=world.client, band="low").count() == 1
    call_command("compliance_seed_demo_risk", stdout=out)
    assert "already scored" in out.getvalue() and RiskScore.objects.filter(brand=world.brand).count() == 2


def test_the_demo_scores_split_in_parts_score_each_client_once_and_a_worker_score_is_kept(world):
    """`make run` scores the demo in a few processes (--jobs), each its part of the clients by id; a
    client a worker scored first (on an event) is not scored again, and the others still are."""
    import io

    for n in range(4):
        make_client(actor=world.agent, brand=world.brand, email=f"part{n}@example.com", stage="funded")
    clients = set(Client.objects.values_list("pk", flat=True))
    first = min(clients)
    risk_score_compute(client_id=first, trigger="kyc.approved")  # a worker, before the demo loader

    out = io.StringIO()
    call_command("compliance_seed_demo_risk", "--shard", "1/2", stdout=out)
    assert set(RiskScore.objects.filter(trigger="demo").values_list("client_id", flat=True)) == {
        pk for pk in clients if pk % 2 == 1 and pk != first}
    call_command("compliance_seed_demo_risk", "--shard", "0/2", stdout=out)
    scored = list(RiskScore.objects.values_list("client_id", flat=True))
    assert sorted(scored) == sorted(clients), "every client once"
    assert RiskScore.objects.get(client_id=first).trigger == "kyc.approved"
    call_command("compliance_seed_demo_risk", stdout=out)
    assert RiskScore.objects.count() == len(clients)


def test_an_api_key_reads_its_brands_clients_risk_with_the_risk_scope_but_does_not_review_it(world):
    from tests.crm.api_support import KeyClient, assert_error, new_key

    score(world)
    path = f"/compliance/clients/{world.client.code}/risk"
    api = KeyClient(new_key(world.brand, scopes=["compliance:risk"]))
    body = api.get(path).json()
    assert body["current"]["band"] == "low" and len(body["history"]) == 1
    # A periodic review is an officer's act: the service refuses it to a key, and nothing is written.
    assert_error(api.post(f"{path}/review"), 403, "forbidden")
    assert RiskScore.objects.filter(client=world.client).count() == 1
    assert_error(KeyClient(new_key(make_brand(), scopes=["compliance:risk"])).get(path), 404, "not_found")
    assert_error(KeyClient(new_key(world.brand, scopes=["compliance:read"])).get(path), 403, "missing_scope")
    assert_error(KeyClient(new_key(world.brand, scopes=["compliance:read"])).post(f"{path}/review"), 403)

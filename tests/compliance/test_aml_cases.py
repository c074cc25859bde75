"""Where AML meets the rest of compliance: an alert joins its client's case and marks itself in it, and
counts in the client's risk score; the rules of a risk class apply to the clients whose latest score is
of that band."""

from __future__ import annotations

import pytest

from compliance.aml import aml_rule_create
from compliance.jurisdictions import jurisdiction_set
from compliance.models import AmlAlertStatus, AmlRiskClass, AmlRuleKind, CaseItemKind
from compliance.risk import risk_score_compute
from compliance.selectors import cases_for_client
from crm.events import deliver_event
from crm.models import Event
from tests.compliance.aml_support import ago, deposit, rule, run, world

pytestmark = pytest.mark.django_db


def test_an_alert_opens_the_clients_case_is_marked_in_it_and_counts_in_the_risk_score(
        django_capture_on_commit_callbacks):
    w = world()
    rule(w, AmlRuleKind.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    deposit(w.client, "25000.00")
    [alert] = run(w)
    event = Event.objects.get(name="compliance.alert_raised")
    with django_capture_on_commit_callbacks(execute=False):  # the risk score is recomputed below, by hand
        deliver_event(event)
    [case] = cases_for_client(user=w.officer, client=w.client)
    [item] = case.items.all()
    assert (item.kind, str(item.ref_id), item.score) == (CaseItemKind.AML_ALERT, str(alert.pk), alert.score)
    alert.refresh_from_db()
    assert alert.status == AmlAlertStatus.IN_CASE and alert.status_reason == str(case.code)
    deliver_event(event)  # delivered again: nothing more
    assert case.items.count() == 1
    score = risk_score_compute(client_id=w.client.pk, trigger="test")
    assert score is not None
    alerts = next(f for f in score.factors if f["key"] == "alerts")
    assert alerts["points"] == 10 and alerts["value"] == "1 AML alerts"


def test_a_rule_of_a_risk_class_fires_for_the_clients_whose_latest_score_is_of_that_band():
    w = world(country="GB")
    aml_rule_create(brand=w.brand, kind=AmlRuleKind.LARGE_TRANSACTION, name="High risk large",
                    risk_class=AmlRiskClass.HIGH, parameters={"amounts": {"USD": "1000"}, "direction": "both"},
                    actor=w.officer, effective_from=ago(days=1))
    low = risk_score_compute(client_id=w.client.pk, trigger="test")
    assert low is not None and low.band == "low"
    deposit(w.client, "5000.00")
    assert run(w) == []  # a low-risk client: the high-risk rule does not apply
    # The brand sanctions the client's country: the next score is high, and the rule applies from then.
    jurisdiction_set(brand=w.brand, country="GB", status="sanctioned", by=w.officer)
    high = risk_score_compute(client_id=w.client.pk, trigger="test")
    assert high is not None and high.band == "high"
    [alert] = run(w, since=ago(days=1))
    assert alert.client_id == w.client.pk and alert.rule.risk_class == AmlRiskClass.HIGH

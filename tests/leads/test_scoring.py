"""Scoring rules: each kind, clamping to 0-100, the breakdown, parameter validation."""

from __future__ import annotations

import pytest

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import RoleCode
from leads.models import Channel, LeadScore, ScoringKind
from leads.scoring import score_lead
from leads.services import lead_intake, scoring_rule_save
from tests.factories import make_user
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def rules(world):
    def add(name, kind, params, points):
        return scoring_rule_save(actor=world.admin, brand=world.brand, name=name, kind=kind, params=params, points=points)

    return {
        "tier1": add("Tier 1 countries", ScoringKind.COUNTRY_TIER, {"countries": "GB, de"}, 20),
        "exp": add("Experienced", ScoringKind.DECLARED_EXPERIENCE, {"levels": ["experienced", "professional"]}, 15),
        "deposit": add("Big deposit", ScoringKind.DEPOSIT_INTENT, {"min": "5000"}, 25),
        "source": add("Google", ScoringKind.SOURCE_QUALITY, {"sources": ["Google"]}, 10),
        "complete": add("Complete", ScoringKind.COMPLETENESS, {"fields": ["phone", "experience", "deposit_intent", "occupation"]}, 20),
        "hnw": add("HNW", ScoringKind.HNW_INDICATOR, {"min_net_worth": "1000000"}, 30),
        "junk": add("Junk source", ScoringKind.SOURCE_QUALITY, {"sources": ["coreg"]}, -40),
    }


def test_the_score_adds_the_points_of_the_rules_that_hold_and_keeps_why(world, rules):
    result = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(
        1, experience="Experienced", deposit_intent="10000", source="google"))
    stored = LeadScore.objects.get(client=result.client)
    assert result.score == stored.score == 20 + 15 + 25 + 10 + 15  # completeness: 3 of 4 fields -> 15
    by_name = {row["name"]: row for row in stored.breakdown}
    assert set(by_name) == {"Tier 1 countries", "Experienced", "Big deposit", "Google", "Complete"}
    assert by_name["Complete"]["why"] == "3 of 4 fields given" and by_name["Complete"]["points"] == 15
    assert by_name["Big deposit"]["why"] == "Intends to deposit 10000"
    assert by_name["Tier 1 countries"]["rule"] == str(rules["tier1"].code)


def test_the_score_is_clamped_to_0_100(world, rules):
    high = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(
        2, experience="professional", deposit_intent=50000, source="google", net_worth="2000000", occupation="CEO"))
    assert high.score == 100
    low = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(3, country="FR", phone="+33142685300",
                                                                            source="coreg"))
    assert low.score == 0


def test_inactive_rules_do_not_count_and_score_lead_rescores_a_stored_client(world, rules):
    result = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(4))
    assert result.score == 25  # tier 1 (20) + completeness 1 of 4 (5)
    scoring_rule_save(actor=world.admin, brand=world.brand, name="Tier 1 countries", kind=ScoringKind.COUNTRY_TIER,
                      params={"countries": ["GB"]}, points=20, is_active=False, rule=rules["tier1"])
    score, breakdown = score_lead(result.client, result.touch)
    assert score == 5 and [b["name"] for b in breakdown] == ["Complete"]


@pytest.mark.parametrize(("kind", "params"), [
    (ScoringKind.COUNTRY_TIER, {"countries": []}),
    (ScoringKind.COUNTRY_TIER, {"countries": ["XX"]}),
    (ScoringKind.DECLARED_EXPERIENCE, {"levels": ["guru"]}),
    (ScoringKind.DEPOSIT_INTENT, {"min": "abc"}),
    (ScoringKind.DEPOSIT_INTENT, {"min": "100", "max": "10"}),
    (ScoringKind.SOURCE_QUALITY, {}),
    (ScoringKind.COMPLETENESS, {"fields": ["shoe_size"]}),
    (ScoringKind.HNW_INDICATOR, {"min_net_worth": "-5"}),
])
def test_rule_parameters_are_validated_per_kind(world, kind, params):
    with pytest.raises(ValidationFailed) as caught:
        scoring_rule_save(actor=world.admin, brand=world.brand, name="R", kind=kind, params=params, points=10)
    assert "params" in caught.value.fields


def test_points_must_stay_within_plus_minus_100(world):
    with pytest.raises(ValidationFailed) as caught:
        scoring_rule_save(actor=world.admin, brand=world.brand, name="R", kind=ScoringKind.COUNTRY_TIER,
                          params={"countries": ["GB"]}, points=150)
    assert "points" in caught.value.fields


def test_only_administrators_configure_scoring(world):
    with pytest.raises(NotAllowed):
        scoring_rule_save(actor=world.manager, brand=world.brand, name="R", kind=ScoringKind.COUNTRY_TIER,
                          params={"countries": ["GB"]}, points=10)
    with pytest.raises(NotAllowed):
        scoring_rule_save(actor=make_user(role_code=RoleCode.SALES_AGENT, brand=world.brand), brand=world.brand,
                          name="R", kind=ScoringKind.COUNTRY_TIER, params={"countries": ["GB"]}, points=10)

"""What compliance promises other apps' SQL (compliance.selectors.PUBLISHED_VIEWS: risk scores, which
marketing's segments read for the risk band). A change of compliance that breaks the promise fails here."""

from __future__ import annotations

import pytest

from compliance import selectors
from compliance.risk import risk_score_compute
from compliance.services import jurisdiction_set
from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user
from tests.published_views import assert_as_declared, view_rows

pytestmark = pytest.mark.django_db


def test_the_view_has_exactly_its_declared_columns_and_types():
    assert [v.name for v in selectors.PUBLISHED_VIEWS] == ["compliance_public_risk_scores"]
    assert_as_declared(selectors.RISK_SCORES_VIEW)


def test_each_score_computed_through_the_services_shows_and_the_latest_is_the_band_now():
    brand = make_brand()
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    client = make_client(brand=brand, country="DE")
    first = risk_score_compute(client_id=client.pk, trigger="test")
    assert first is not None
    jurisdiction_set(brand=brand, country="DE", status="sanctioned", by=officer)
    second = risk_score_compute(client_id=client.pk, trigger="test")
    assert second is not None and second.band == "high" and first.band != "high"
    rows = view_rows(selectors.RISK_SCORES_VIEW, "client_id = %s", [client.pk])
    assert sorted(rows, key=lambda r: r["id"]) == [
        {
            "id": s.pk,
            "client_id": client.pk,
            "brand_id": brand.pk,
            "band": s.band,
            "score": s.score,
            "computed_at": s.computed_at,
        }
        for s in (first, second)
    ]
    values = set(selectors.RISK_SCORES_VIEW.column("band").values)
    assert {first.band, second.band} <= values

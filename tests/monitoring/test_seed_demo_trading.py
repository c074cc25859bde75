"""`manage.py monitoring_seed_demo_trading`: a multi-accounting pair and a partner's client ring,
through the trader's room and the partners' services, raised as alerts; a rerun adds nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from monitoring.models import MonitoringAlert
from tests.factories import make_brand

pytestmark = pytest.mark.django_db


def _run() -> str:
    out = StringIO()
    call_command("monitoring_seed_demo_trading", stdout=out)
    return out.getvalue()


def test_it_raises_a_multi_accounting_and_a_client_ring_alert_once():
    brand = make_brand()
    assert "loaded; alerts standing: multi_accounting 2, client_ring 1" in _run()
    alerts = MonitoringAlert.objects.filter(brand=brand)
    assert sorted(alerts.values_list("detector", "subject_kind")) == [
        ("client_ring", "partner"), ("multi_accounting", "client"), ("multi_accounting", "client")]
    ring = alerts.get(detector="client_ring")
    assert ring.partner.display_name == "Ring Affiliates (demo)"
    assert ring.reasons[0].startswith("5 of the partner's clients signed in from one IP address (198.51.100.77)")
    assert "already loaded; alerts standing: multi_accounting 2, client_ring 1" in _run()
    assert MonitoringAlert.objects.filter(brand=brand).count() == 3


def test_without_a_brand_it_says_so():
    assert "no brand" in _run()

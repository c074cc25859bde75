"""manage.py seed_demo is deterministic: the same clients every time, drawn from the plan's fixed
seed whatever the time of the run. Apart from tests/demo/test_seed_demo.py, whose tests share one
loaded demo: this one needs an empty database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from crm.models import Client
from demo.checksums import database_checksum, plan_checksum
from demo.plan import Planner
from tests.demo.test_seed_demo import CLIENTS, run_seed

pytestmark = pytest.mark.django_db


def test_seed_demo_writes_the_same_clients_every_time() -> None:
    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        run_seed()
        first = database_checksum()
        raise Undo
    assert not Client.objects.exists()

    run_seed()
    assert database_checksum() == first
    # ...which is the plan the seed draws from its fixed seed, whatever the time of the run.
    later = timezone.now() + timedelta(hours=7)
    assert plan_checksum(Planner(clients=CLIENTS, now=later).plan()) == first

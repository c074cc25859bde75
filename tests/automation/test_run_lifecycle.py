"""An automation run's status moves through its state machine (automation.models.RUN_STATES): a
scheduled run is settled once, so a run already fired handed to the beat again is refused before
any of its actions runs a second time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automation.exceptions import RunTransitionRefused
from automation.models import RUN_STATES, RunStatus
from automation.runner import _fire_scheduled, automation_fire_due
from crm.services import client_stage_change
from emails.models import OutboundEmail
from tests.automation.test_automation import T0, delayed_rule, deliver, runs, world

__all__ = ["world"]  # the fixture, shared with the engine's tests


def test_a_fired_run_is_refused_a_second_firing_and_its_actions_do_not_run_again(world):
    r = delayed_rule(world)
    client_stage_change(actor=None, client=world.client, stage="registered")
    deliver()
    world.time.move_to(T0 + timedelta(hours=24), tick=False)
    assert automation_fire_due() == 1
    [run] = runs(r)
    assert run.status == RunStatus.FIRED and OutboundEmail.objects.count() == 1

    with pytest.raises(RunTransitionRefused) as caught:
        _fire_scheduled(run)  # as if a second beat had been handed the same run
    assert caught.value.message == "An automation run that is fired cannot become fired."
    assert caught.value.status_code == 409
    run.refresh_from_db()
    assert run.status == RunStatus.FIRED and OutboundEmail.objects.count() == 1
    # Only a scheduled run is settled; a fired one may only turn out failed (its action did).
    assert RUN_STATES.sources(RunStatus.CANCELLED) == [RunStatus.SCHEDULED]
    assert RUN_STATES.sources(RunStatus.FAILED) == [RunStatus.FIRED, RunStatus.SCHEDULED]

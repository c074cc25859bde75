"""A lead import's status moves through its state machine (leads.models.IMPORT_STATES): uploaded,
queued, running, then done, failed or cancelled; only a failed or cancelled one (or one whose
worker died) starts again, and the job's set-based moves touch only an import in an allowed state."""

from __future__ import annotations

import pytest

from leads import imports
from leads.exceptions import LeadImportTransitionRefused
from leads.imports import lead_import_create, lead_import_set_mapping, lead_import_start
from leads.models import IMPORT_STATES, ImportStatus, LeadImport

pytestmark = pytest.mark.django_db

CSV = b"First Name,Surname,E-mail,Mobile,Country\nAna,Silva,ana@example.com,+351912345678,PT\n"


def test_an_import_is_refused_moves_its_table_does_not_list(world, django_capture_on_commit_callbacks):
    upload = lead_import_create(actor=world.manager, brand=world.brand, filename="leads.csv", content=CSV)
    lead_import_set_mapping(actor=world.manager, lead_import=upload, mapping=upload.mapping)
    with pytest.raises(LeadImportTransitionRefused) as caught:
        IMPORT_STATES.move(upload, ImportStatus.RUNNING)
    assert caught.value.message == "An import that is uploaded cannot become running."
    assert caught.value.status_code == 409

    with django_capture_on_commit_callbacks(execute=False):  # not handed to the queue
        started = lead_import_start(actor=world.manager, lead_import=upload)
        again = lead_import_start(actor=world.manager, lead_import=upload)  # twice changes nothing
    assert started.status == again.status == ImportStatus.QUEUED and again.job == started.job
    # The job's end, set-based: a queued import that never ran is not marked done.
    assert imports._move(upload.pk, ImportStatus.DONE) is False
    assert LeadImport.objects.get(pk=upload.pk).status == ImportStatus.QUEUED
    assert IMPORT_STATES.sources(ImportStatus.QUEUED) == [
        ImportStatus.CANCELLED, ImportStatus.FAILED, ImportStatus.RUNNING, ImportStatus.UPLOADED]

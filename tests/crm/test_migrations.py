"""The migrations describe the models: a model change without its migration fails here, not on
a broker's server when `migrate` finds nothing to do and the code expects a column."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"models differ from their migrations (exit {exit_.code}):\n{out.getvalue()}")

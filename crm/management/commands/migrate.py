"""`manage.py migrate`, connected as the schema's owner when DATABASE_OWNER_URL is set.

Django's own migrate, run on the owner's connection, then the application role's privileges
(crm.lib.dbroles): every table read and written, the append-only audit tables only read and
appended to (and the audit log sealed). The grants run after every migrate, so that tables a later migration adds are covered.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate
from django.db import DEFAULT_DB_ALIAS

from crm.audit import app_privileges_grant
from crm.lib import dbroles


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        if alias != DEFAULT_DB_ALIAS:  # DATABASE_OWNER_URL owns the default database only
            super().handle(*args, **options)
            return
        with dbroles.as_owner(alias):
            super().handle(*args, **options)
            app_privileges_grant(alias=alias)

"""PostgreSQL for the test suite (crm.settings.test): Django's own backend, except how tables are
emptied between transactional tests.

The application's role may not TRUNCATE the append-only audit tables, and a trigger refuses it
to their owner too (crm migration 0009). A flush therefore runs as the owner, in one transaction
that switches those tables' triggers off, empties every table, and switches them on again. This
is the suite's own reset; the CRM itself never does it.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def execute_sql_flush(self, sql_list: Sequence[str]) -> None:
        from crm.audit import APPEND_ONLY_TABLES
        from crm.lib import dbroles

        protected = [self.quote_name(t) for t in APPEND_ONLY_TABLES
                     if any(self.quote_name(t) in sql for sql in sql_list)]
        owner = dbroles.connect_as_owner(self.connection.alias)
        try:
            with owner.transaction(), owner.cursor() as cursor:
                for table in protected:
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                for sql in sql_list:
                    cursor.execute(sql)
                for table in protected:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        finally:
            owner.close()


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

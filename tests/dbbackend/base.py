"""PostgreSQL for the test suite (crm.settings.test): Django's own backend, except how tables are
emptied between transactional tests.

The application's role may not TRUNCATE the append-only audit tables, and a trigger refuses it
to their owner too (crm migration 0009). A flush therefore runs as the owner, in one transaction
that switches those tables' triggers off, empties every table, and switches them on again. This
is the suite's own reset; the CRM itself never does it.
"""

from __future__ import annotations

import gc
import time
import warnings
import weakref
from collections.abc import Sequence

from django.db.backends.postgresql import base, creation, operations


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


class DatabaseCreation(creation.DatabaseCreation):
    """Dropping the test database at the end of the run: PostgreSQL refuses it while any other
    session is connected, and pytest-django then only warns, leaving the database behind. A session
    a test started can still be on its way out (a worker process exiting, a thread's connection not
    yet collected), so the drop first waits for them to end, within a budget that follows the
    machine's load. A session still there after that is a leak: it is named in a warning (its
    application name says which test process opened it) and ended, and the database is dropped."""

    def create_test_db(self, verbosity: int = 1, autoclobber: bool = False, serialize: bool | None = None,
                       keepdb: bool = False) -> str:
        """A copy of the migrated template (tests/dbbackend/template.py) rather than a migration run of
        its own; with keepdb (pytest --reuse-db), Django's own way: the kept database, migrated."""
        if keepdb:
            return super().create_test_db(verbosity, autoclobber, serialize, keepdb)
        from django.conf import settings
        from django.core.management import call_command

        from tests.dbbackend import template

        test_database_name = self._get_test_db_name()
        quote = self.connection.ops.quote_name
        self.connection.close()
        self.connection.close_pool()
        with self._nodb_cursor() as cursor:
            cursor.execute("SHOW server_version")
            base = template.base_name(test_database_name)
            digest = template.digest(cursor.fetchone()[0])
            name = template.template_name(base, digest)
            with template.held(cursor, name):
                if not template.exists(cursor, name):
                    template.drop_stale(cursor, quote, base, keep=name)
                    restored = template.restore(self, cursor, name, digest)
                    if restored is not None:
                        if verbosity >= 1:
                            self.log(f"Restored the test template {name} from its schema snapshot "
                                     f"in {restored:.0f} s.")
                    else:
                        if verbosity >= 1:
                            self.log(f"Migrating the test template {name}...")
                        seconds = template.build(self, cursor, name, verbosity)
                        if verbosity >= 1:
                            self.log(f"Migrated the test template {name} in {seconds:.0f} s.")
                        written = template.save_snapshot(self, cursor, name, digest)
                        if written is not None:
                            self.log(f"Wrote the schema snapshot {written.relative_to(template.PROJECT)}: "
                                     f"commit it with the migrations it was made from.")
                if verbosity >= 1:
                    self.log(f"Creating test database {test_database_name} from {name}...")
                cursor.execute(f"DROP DATABASE IF EXISTS {quote(test_database_name)}")
                cursor.execute(f"CREATE DATABASE {quote(test_database_name)} TEMPLATE {quote(name)}")

        settings.DATABASES[self.connection.alias]["NAME"] = test_database_name
        self.connection.settings_dict["NAME"] = test_database_name
        self._refresh_from_code()
        if serialize:  # Django's deprecated argument (it serialises after setup now)
            self.connection._test_serialized_contents = self.serialize_db_to_string()
        call_command("createcachetable", database=self.connection.alias)
        self.connection.ensure_connection()
        return test_database_name

    def _refresh_from_code(self) -> None:
        """What migrate's last steps make from the code, not the migrations, made again on the copy:
        the application role's privileges, and the post_migrate handlers' rows (content types,
        permissions, each role and its permissions), exactly as a flush between tests remakes them."""
        from django.core.management.sql import emit_post_migrate_signal

        from crm.audit import app_privileges_grant
        from crm.lib import dbroles

        alias = self.connection.alias
        with dbroles.as_owner(alias):
            app_privileges_grant(alias=alias)
            emit_post_migrate_signal(verbosity=0, interactive=False, db=alias)

    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        from tests.waiting import scaled

        self.connection.close_pool()
        gc.collect()  # a thread's connection left in a reference cycle closes when it is collected
        started = time.monotonic()
        with self._nodb_cursor() as cursor:
            while (others := _other_sessions(cursor, test_database_name)) and time.monotonic() - started < scaled(20):
                time.sleep(0.2)
        if others:
            ended = self._end_sessions(test_database_name)
            listed = "; ".join(f"pid {pid} ({name or 'no application name'}, {state}: {query[:160]!r})"
                               for pid, name, state, query in ended)
            warnings.warn(f"{len(others)} session(s) still connected to {test_database_name} at the end of the "
                          f"run were ended: {listed}", stacklevel=1)
        super()._destroy_test_db(test_database_name, verbosity)

    def _end_sessions(self, test_database_name: str) -> list[tuple[int, str, str, str]]:
        """End the sessions left on the test database, each role its own (a role may end its own
        sessions, not always another role's), and return them with what they were doing."""
        from crm.lib import dbroles

        ended = []
        for params in filter(None, (dbroles.owner_params(), dbroles.app_params())):
            wrapper = type(self.connection)({**self.connection.settings_dict, **params, "NAME": "postgres"},
                                            alias=self.connection.alias)
            conn = wrapper.get_new_connection(wrapper.get_connection_params())
            try:
                with conn.cursor() as cursor:
                    cursor.execute(
                        "SELECT pid, application_name, coalesce(state, ''), coalesce(query, '') "
                        "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                        "AND usename = current_user", [test_database_name])
                    mine = list(cursor.fetchall())
                    for row in mine:
                        cursor.execute("SELECT pg_terminate_backend(%s)", [row[0]])
                    ended.extend(mine)
            finally:
                conn.close()
        return ended


def _other_sessions(cursor: object, name: str) -> list[tuple[int, str, str, str]]:
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT pid, application_name, coalesce(state, ''), coalesce(query, '') FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
    return list(cursor.fetchall())  # type: ignore[attr-defined]


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's wrapper, remembering every connection it opens (weakly), so that the end of the run can
    close the ones `connections.close_all()` does not reach (see `close_every_connection`)."""

    ops_class = DatabaseOperations
    creation_class = DatabaseCreation

    def connect(self) -> None:
        super().connect()
        _opened.add(self)


_opened: weakref.WeakSet[DatabaseWrapper] = weakref.WeakSet()


def close_every_connection() -> int:
    """Close every connection of this process's tests that is still open; returns how many.

    `connections.close_all()` closes only the connections it can see from here, and some it cannot:
    Playwright's sync API runs an asyncio loop in the test's own thread, and while that loop runs,
    Django keeps the connections a browser test's fixtures open in a context-local slot that is
    invisible outside it (asgiref's Local for thread-critical objects); a thread's wrapper that is
    still referenced is another. Left open, such a session keeps the test database from being
    dropped."""
    closed = 0
    for wrapper in list(_opened):
        if wrapper.connection is None or wrapper.connection.closed:
            continue
        wrapper.inc_thread_sharing()  # it may belong to another thread; we only close it
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()
        if wrapper.connection is not None and not wrapper.connection.closed:
            wrapper.connection.close()  # closed inside an atomic block: Django keeps the handle
        closed += 1
    return closed

"""Migrating the test database back to a migration and forward again, for the tests of data migrations.

`migrate(targets)` runs the plan `MigrationExecutor.migrate(targets)` would run (the same migrations,
in the same order, each applied or unapplied and recorded by the executor), but gives each migration
the project state of its own ancestors, as `manage.py sqlmigrate` builds it, instead of the state of
every applied migration of the project. That whole-project state was most of the time of such a test
(minutes on a 2-core machine): the executor renders every model of every app, then re-renders the
models related to each model a migration touches, once per operation and per later migration in its
plan. A migration only reads and writes what its ancestors made (that is what its dependencies say),
so its operations run the same statements on the same tables either way.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def leaves() -> list[tuple[str, str]]:
    """The newest migration of every app: where a test migrates back to when it is done."""
    nodes: list[tuple[str, str]] = MigrationExecutor(connection).loader.graph.leaf_nodes()
    return nodes


def apps_at(targets: list[tuple[str, str]]) -> Any:
    """The models as they were at `targets` (to write rows the way the code of that time did)."""
    return MigrationExecutor(connection).loader.project_state(targets).apps


def migrate(targets: list[tuple[str, str]], *, only: frozenset[str] | None = None) -> None:
    """Migrate to `targets`. With `only` (app labels), the plan's migrations of other apps are left
    as they are: a later app's migrations that merely come after the walked ones in the graph (their
    tables do not touch what the walked migrations change) stay applied, instead of dropping and
    making again that app's tables at each end of the walk."""
    executor = MigrationExecutor(connection)
    for migration, backwards in executor.migration_plan(targets):
        if only is not None and migration.app_label not in only:
            continue
        state = executor.loader.project_state((migration.app_label, migration.name), at_end=False)
        state.apps  # noqa: B018 - rendered once, as the executor does before a migration runs
        if backwards:
            executor.unapply_migration(state, migration)
        else:
            executor.apply_migration(state, migration)

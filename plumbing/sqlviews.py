"""A view an app publishes for other apps' set-based SQL: the one way SQL in one app reads another's rows.

An app never names another app's tables (DESIGN, "Inside an app"; tests/test_architecture.py
fails on it). Where a reader must join another app's rows in bulk (the commission engine over a
month of deals), the owning app publishes a view instead:

* it creates the view in one of its own migrations, over its own tables only, one row per row of
  the table it shows (no aggregate, no join that repeats or drops rows unless its declaration
  says so), so that PostgreSQL inlines it and a reader's plan is what it was over the table;
* it declares the view in its ``selectors`` as a ``PublishedView``: the name, every column with
  its PostgreSQL type (as ``format_type`` prints it) and its meaning, values included where the
  column holds one of a few codes;
* its own tests check the declaration against the database (the columns and types, exactly) and
  that a row written through its services shows in the view as declared.

Readers name only the view and its declared columns, and only read it. The owner may change its
tables freely behind the view; a change that alters a declared column (its name, type or meaning)
is a change of the contract, made in the declaration, the view's migration and its readers at
once. PostgreSQL itself refuses to drop or retype a table column a view reads: a migration that
must do so drops and recreates the view around it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # PostgreSQL's format_type(): "bigint", "numeric(20,8)", "timestamp with time zone"
    meaning: str
    values: tuple[str, ...] = ()  # the codes the column holds, when it holds one of a few


@dataclass(frozen=True)
class PublishedView:
    name: str
    purpose: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        """The declared column `name` (KeyError naming it when the view has none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name}")

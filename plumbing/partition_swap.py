"""For a migration: an existing table made partitioned by month, or a plain table again, keeping its rows
and everything it carries (the one converter every app's migrations use).

`table_repartition(schema_editor, table, column)` builds, in the migration's transaction, a new table
of the old one's name, `PARTITION BY RANGE (column)` (column None: a plain table), and gives it:

- its columns as they were: defaults, NOT NULL and CHECK constraints, identity and generated columns,
  storage, compression and comments;
- a partition (crm_month_partitions_ensure, crm migration 0025: `<table>_pYYYYMM`, one UTC month) for
  every month its rows fall in, and from last month to MONTHS_AHEAD ahead;
- its rows, copied as they are (no trigger fires on the copy: the triggers are made after it);
- the position of every sequence of its columns: a serial column's sequence is taken over; an
  identity keeps counting on a new identity of the old sequence's name, or (`identity_as_sequence`)
  on a sequence of that name the column's default draws from, which the partitions inherit, so
  that a row written straight into a partition is given an id too;
- its primary key and unique constraints, foreign keys (composite ones too) and exclusion
  constraints; its indexes; its triggers (constraint triggers deferred as they were, each enabled
  or disabled as it was); the privileges granted on it, its columns and its sequences;
- the views and materialized views over it, and over those, made again as they were (options,
  indexes, triggers, privileges, comment).

A primary key or unique constraint of a partitioned table must include the partition key: when
partitioning, `column` is added to each one that lacks it, keeping the rest of its definition.
`keys` (name -> definition) overrides that, and is how the way back (column None) names the keys
the plain table gets again: for a constraint, what follows `ADD CONSTRAINT <name>`; for a unique
index that backs no constraint (Django's UniqueConstraint with INCLUDE or a condition), what follows
`CREATE UNIQUE INDEX <name> ON <table>`.

Refused, with a message naming what is in the way, before anything is changed: a table that another
table's foreign key references (make those db_constraint=False first), a unique index without
`column` and not named in `keys`, a row whose `column` is NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql as psql

# Partitions from last month to this many months ahead of the current one: made by the conversion,
# then kept so by the daily task (crm.lib.partitions).
MONTHS_AHEAD = 3


class RepartitionRefused(RuntimeError):
    """The table holds what the conversion cannot carry over; nothing was changed."""


@dataclass
class _Sequence:
    column: str
    name: str  # schema-qualified, quoted, as pg_get_serial_sequence gives it
    relname: str
    identity: bool
    last_value: int
    is_called: bool
    options: str  # AS <type> INCREMENT BY ... for a sequence made again
    grants: list[str]


@dataclass
class _Dependent:
    """A view or materialized view over the table (or over such a view)."""

    name: str  # schema-qualified, quoted
    kind: str  # 'v' or 'm'
    definition: str
    options: list[str] | None
    populated: bool
    comment: str | None
    depth: int
    after: list[str] = field(default_factory=list)  # its indexes, triggers, grants, comment


def table_repartition(schema_editor: Any, table: str, column: str | None, *, keys: Mapping[str, str] | None = None,
                      identity_as_sequence: bool = False, months_ahead: int = MONTHS_AHEAD) -> int:
    """Make `table` partitioned by month on `column` (None: a plain table again), keeping everything it
    carries (the module's docstring); the number of rows carried over."""
    qn: Callable[[str], str] = schema_editor.quote_name
    keys = dict(keys or {})
    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s::regclass", [table])
        qualified: str = cur.fetchone()[0]
        _refuse_what_cannot_be_carried(cur, table, column, keys, qn)
        columns = _columns(cur, table)
        sequences = _sequences(cur, table, columns, qn)
        restore = [*_keys(cur, table, column, keys, qn), *_indexes(cur, table, keys, qualified, qn),
                   *_triggers(cur, table, qn), *_grants(cur, table, qn(table), qn)]
        dependents = _dependents(cur, table, qn)

        for dependent in reversed(dependents):
            cur.execute(f"DROP {'MATERIALIZED VIEW' if dependent.kind == 'm' else 'VIEW'} {dependent.name}")
        old = qn(f"{table}__unpartitioned")
        cur.execute(f"ALTER TABLE {qn(table)} RENAME TO {old}")
        identity = "" if identity_as_sequence else "INCLUDING IDENTITY "
        partitioned = f" PARTITION BY RANGE ({qn(column)})" if column else ""
        cur.execute(f"CREATE TABLE {qn(table)} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS {identity}"
                    f"INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS){partitioned}")
        if column:
            _months_make(cur, table, column, old, months_ahead, qn)
        names = psql.SQL(", ").join(psql.Identifier(name) for name, generated in columns if not generated)
        cur.execute(psql.SQL("INSERT INTO {table} ({names}) OVERRIDING SYSTEM VALUE SELECT {names} FROM {old}").format(
            table=psql.Identifier(table), names=names, old=psql.Identifier(f"{table}__unpartitioned")).as_string(None))
        carried = int(cur.rowcount)
        for seq in sequences:
            if not seq.identity:  # a serial's default names the old sequence: the new table takes it over
                cur.execute(f"ALTER SEQUENCE {seq.name} OWNED BY {qn(table)}.{qn(seq.column)}")
        cur.execute(f"DROP TABLE {old}")
        for seq in sequences:
            if seq.identity:
                _identity_carry(cur, table, seq, identity_as_sequence, qn)
        for sql in restore:
            cur.execute(sql)
        for dependent in dependents:
            with_options = f" WITH ({', '.join(dependent.options)})" if dependent.options else ""
            what = "MATERIALIZED VIEW" if dependent.kind == "m" else "VIEW"
            no_data = " WITH NO DATA" if dependent.kind == "m" and not dependent.populated else ""
            cur.execute(f"CREATE {what} {dependent.name}{with_options} AS {dependent.definition.rstrip().rstrip(';')}"
                        f"{no_data}")
            for sql in dependent.after:
                cur.execute(sql)
        cur.execute(f"ANALYZE {qn(table)}")
    return carried


def _refuse_what_cannot_be_carried(cur: Any, table: str, column: str | None, keys: Mapping[str, str],
                                   qn: Callable[[str], str]) -> None:
    cur.execute("SELECT conname, conrelid::regclass::text FROM pg_constraint "
                "WHERE contype = 'f' AND confrelid = %s::regclass ORDER BY 1", [table])
    refs = [f"{name} (on {on})" for name, on in cur.fetchall()]
    if refs:
        raise RepartitionRefused(f"{table} is referenced by the foreign keys {', '.join(refs)}: make them "
                                 "db_constraint=False first; nothing was changed")
    if not column:
        return
    cur.execute("SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = %s::regclass AND x.indisunique AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid) "
                "AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = x.indrelid AND a.attname = %s "
                "AND a.attnum = ANY(x.indkey::int2[])) ORDER BY 1", [table, column])
    unique = [name for (name,) in cur.fetchall() if name not in keys]
    if unique:
        raise RepartitionRefused(f"{table} has the unique index(es) {', '.join(unique)} without {column}: name "
                                 f"each one's definition on the partitioned table in keys; nothing was changed")
    cur.execute("SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attname = %s "
                "AND NOT a.attisdropped", [table, column])
    found = cur.fetchone()
    if found is None:
        raise RepartitionRefused(f"{table} has no column {column} to be partitioned by; nothing was changed")
    if not found[0]:
        cur.execute(psql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL").format(
            psql.Identifier(table), psql.Identifier(column)).as_string(None))
        nulls = int(cur.fetchone()[0])
        if nulls:
            raise RepartitionRefused(f"{nulls} row(s) of {table} have no {column}: no month's partition could hold "
                                     "them; nothing was changed")


def _columns(cur: Any, table: str) -> list[tuple[str, bool]]:
    """(name, generated) of each column, in order: a generated column is computed again, not copied."""
    cur.execute("SELECT attname, attgenerated <> '' FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attnum", [table])
    return [(name, bool(generated)) for name, generated in cur.fetchall()]


def _sequences(cur: Any, table: str, columns: list[tuple[str, bool]], qn: Callable[[str], str]) -> list[_Sequence]:
    found = []
    for name, _generated in columns:
        cur.execute("SELECT pg_get_serial_sequence(%s, %s)", [qn(table), name])
        sequence = cur.fetchone()[0]
        if sequence is None:
            continue
        cur.execute("SELECT parse_ident(%s)", [sequence])  # its schema and name, as the catalogue quoted them
        cur.execute(psql.SQL("SELECT last_value, is_called FROM {}").format(
            psql.Identifier(*cur.fetchone()[0])).as_string(None))
        last_value, is_called = cur.fetchone()
        cur.execute("SELECT c.relname, a.attidentity <> '', format('AS %%s INCREMENT BY %%s MINVALUE %%s MAXVALUE %%s "
                    "START WITH %%s CACHE %%s %%s', format_type(s.seqtypid, NULL), s.seqincrement, s.seqmin, "
                    "s.seqmax, s.seqstart, s.seqcache, CASE WHEN s.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END) "
                    "FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid, pg_attribute a "
                    "WHERE s.seqrelid = %s::regclass AND a.attrelid = %s::regclass AND a.attname = %s",
                    [sequence, table, name])
        relname, identity, options = cur.fetchone()
        found.append(_Sequence(name, sequence, relname, identity, last_value, is_called, options,
                               _grants(cur, sequence, sequence, qn, "SEQUENCE")))
    return found


def _identity_carry(cur: Any, table: str, seq: _Sequence, as_sequence: bool, qn: Callable[[str], str]) -> None:
    """An identity's ids go on where they were, from a sequence of the old one's name (the old one went
    with the old table)."""
    if as_sequence:
        cur.execute(f"CREATE SEQUENCE {seq.name} {seq.options} OWNED BY {qn(table)}.{qn(seq.column)}")
        cur.execute(f"ALTER TABLE {qn(table)} ALTER COLUMN {qn(seq.column)} SET DEFAULT nextval(%s::regclass)",
                    [seq.name])
    else:
        cur.execute("SELECT pg_get_serial_sequence(%s, %s)", [qn(table), seq.column])
        made = cur.fetchone()[0]  # given a suffix while the old one was there
        cur.execute(f"ALTER SEQUENCE {made} RENAME TO {qn(seq.relname)}")
    cur.execute("SELECT setval(%s::regclass, %s, %s)", [seq.name, seq.last_value, seq.is_called])
    for sql in seq.grants:
        cur.execute(sql)


def _months_make(cur: Any, table: str, column: str, old: str, months_ahead: int, qn: Callable[[str], str]) -> None:
    """The partitions of every month the rows fall in, and from last month to `months_ahead` ahead."""
    cur.execute(psql.SQL("SELECT crm_month_partitions_ensure(%s::regclass, m, m) FROM (SELECT DISTINCT "
                        "date_trunc('month', {column} AT TIME ZONE 'UTC')::date AS m FROM {old}) months ORDER BY m").format(
        column=psql.Identifier(column), old=psql.Identifier(f"{table}__unpartitioned")).as_string(None), [table])
    cur.execute("SELECT crm_month_partitions_ensure(%s::regclass, (m - interval '1 month')::date, "
                "(m + make_interval(months => %s))::date) "
                "FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date AS m) this_month",
                [table, months_ahead])


def _keys(cur: Any, table: str, column: str | None, keys: Mapping[str, str], qn: Callable[[str], str]) -> list[str]:
    """The primary key, unique, foreign key and exclusion constraints, as the new table gets them."""
    cur.execute("SELECT c.conname, c.contype, pg_get_constraintdef(c.oid), "
                "array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o) "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o)::text[] "
                "FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u', 'f', 'x') "
                "ORDER BY c.contype DESC, c.conname", [table])
    made = []
    for name, kind, definition, columns in cur.fetchall():
        if name in keys:
            definition = keys[name]
        elif kind in ("p", "u") and column and column not in columns:
            definition = _with_column(definition, [*columns, column], qn)
        made.append(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition}")
    return made


def _with_column(definition: str, columns: list[str], qn: Callable[[str], str]) -> str:
    """A key's definition (`PRIMARY KEY (a)`, `UNIQUE NULLS NOT DISTINCT (a) INCLUDE (b) DEFERRABLE`)
    with `columns` as its column list, the rest kept."""
    start = definition.index("(")
    depth, quoted = 0, False
    for end in range(start, len(definition)):
        char = definition[end]
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
            if depth == 0:
                return f"{definition[:start]}({', '.join(qn(c) for c in columns)}){definition[end + 1:]}"
    raise RepartitionRefused(f"cannot read the column list of the key {definition}; nothing was changed")


def _indexes(cur: Any, table: str, keys: Mapping[str, str], qualified: str, qn: Callable[[str], str]) -> list[str]:
    """The indexes that back no constraint; a unique one named in `keys` by its definition there."""
    cur.execute("SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid) "
                "ORDER BY 1", [table])
    made = []
    for name, definition in cur.fetchall():
        if name in keys:
            made.append(f"CREATE UNIQUE INDEX {qn(name)} ON {qn(table)} {keys[name]}")
        else:  # an index of a partitioned table made ONLY on it would stay invalid: made on the partitions too
            made.append(definition.replace(f" ON ONLY {qualified} ", f" ON {qualified} ", 1))
    return made


def _triggers(cur: Any, relation: str, qn: Callable[[str], str]) -> list[str]:
    """A relation's own triggers (not a foreign key's, not a partition's copies), enabled as they were."""
    cur.execute("SELECT t.tgname, pg_get_triggerdef(t.oid), t.tgenabled, t.tgrelid::regclass::text FROM pg_trigger t "
                "WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal AND t.tgparentid = 0 ORDER BY 1", [relation])
    made = []
    states = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER"}
    for name, definition, enabled, on in cur.fetchall():
        made.append(definition)
        if enabled in states:
            made.append(f"ALTER TABLE {on} {states[enabled]} {qn(name)}")
    return made


def _grants(cur: Any, relation: str, as_named: str, qn: Callable[[str], str], kind: str = "TABLE") -> list[str]:
    """The privileges granted on `relation` and its columns (but its owner's), as GRANTs on `as_named`."""
    cur.execute("SELECT s.col, e.privilege_type, CASE WHEN e.grantee = 0 THEN 'PUBLIC' "
                "ELSE quote_ident(pg_get_userbyid(e.grantee)) END, e.is_grantable "
                "FROM (SELECT NULL::text AS col, c.relacl AS acl, c.relowner AS owner FROM pg_class c "
                "      WHERE c.oid = %s::regclass UNION ALL "
                "      SELECT a.attname::text, a.attacl, c.relowner FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
                "      WHERE c.oid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped) s, aclexplode(s.acl) e "
                "WHERE e.grantee <> s.owner ORDER BY 1 NULLS FIRST, 3, 2", [relation, relation])
    return [f"GRANT {privilege}{f' ({qn(col)})' if col is not None else ''} ON {kind} {as_named} TO {to}"
            f"{' WITH GRANT OPTION' if grantable else ''}" for col, privilege, to, grantable in cur.fetchall()]


_DEPENDENTS = """
WITH RECURSIVE deps(oid, depth) AS (
    SELECT DISTINCT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
     WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
       AND d.refobjid = %s::regclass AND r.ev_class <> %s::regclass
    UNION
    SELECT DISTINCT r.ev_class, deps.depth + 1 FROM deps JOIN pg_depend d ON d.refobjid = deps.oid
      JOIN pg_rewrite r ON r.oid = d.objid
     WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND r.ev_class <> deps.oid
)
SELECT format('%%I.%%I', n.nspname, c.relname), c.relkind, pg_get_viewdef(c.oid), c.reloptions, c.relispopulated,
       obj_description(c.oid, 'pg_class'), max(deps.depth)
FROM deps JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')
GROUP BY c.oid, n.nspname ORDER BY max(deps.depth), 1
"""


def _dependents(cur: Any, table: str, qn: Callable[[str], str]) -> list[_Dependent]:
    """The views over the table and over those, each after those it reads (drop them the other way round)."""
    cur.execute(_DEPENDENTS, [table, table])
    found = [_Dependent(*row) for row in cur.fetchall()]
    for dependent in found:
        if dependent.kind == "m":
            cur.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass "
                        "ORDER BY indexrelid::regclass::text", [dependent.name])
            dependent.after += [definition for (definition,) in cur.fetchall()]
        dependent.after += _triggers(cur, dependent.name, qn)
        dependent.after += _grants(cur, dependent.name, dependent.name, qn)
        if dependent.comment is not None:
            cur.execute("SELECT quote_literal(%s)", [dependent.comment])
            what = "MATERIALIZED VIEW" if dependent.kind == "m" else "VIEW"
            dependent.after.append(f"COMMENT ON {what} {dependent.name} IS {cur.fetchone()[0]}")
    return found

"""Apps meet through their public faces: no app's SQL names another app's tables.

Where one app reads another's rows with set-based SQL (the commission engine reading deals), the
owning app publishes a view (crm.lib.sqlviews; declared in its selectors, created by its
migrations, checked by its own tests) and the reader names only that. A table named in another
app's SQL is invisible to import-linter and to a rename: this test finds it.

Each app's tables come from Django's app registry (every model's db_table, the many-to-many tables
and the history tables included), so a new model is covered without listing it. Every string in
every app's Python source is read (SQL in f-strings too; comments are not code), and so is every
`<Model>._meta.db_table` of a model imported from another app (the same table by another route),
migrations included: an app's migrations may name its own tables, not another's. The exceptions are the
migrations below, applied before this rule: history, which runs once, in order, on the schema of
its day."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

REPO_ROOT = Path(__file__).resolve().parents[1]

# Migrations written before the rule, each naming another app's table; they are not edited (they ran
# on every database already). A new migration reads another app's rows through its published views.
HISTORY: dict[str, str] = {
    "leads/migrations/0006_contact_keys_lock_and_find.py": "the first dedupe lookup (replaced by leads 0013)",
    "leads/migrations/0007_contact_keys_by_kind.py": "the dedupe lookup by key kind (replaced by leads 0013)",
    "leads/migrations/0009_contact_keys_probe_each.py": "the dedupe lookup per key (replaced by leads 0013)",
    "leads/migrations/0010_client_brand_foreign_keys.py": "composite foreign keys to the client and its brand",
    "kyc/migrations/0004_client_verified_backfill.py": "a one-off backfill of the client's verification",
    "wallet/migrations/0014_reconciliation_brands.py": "a one-off backfill of the breaks' brands",
    # Not history: the scale generator loads every app's tables by COPY on an empty database (no
    # service writes a million clients at that rate); its module docstring documents the exception.
    "demo/scale.py": "the scale generator's COPY into every app's tables",
    "demo/management/commands/scale_seed.py": "the scale generator's report of rows per table",
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    table: str
    owner: str

    def __str__(self) -> str:
        return (f"{self.path}:{self.line}: names {self.table}, a table of {self.owner}: read it through "
                f"{self.owner}.selectors (its functions, or the views it publishes: PUBLISHED_VIEWS)")


def project_apps() -> dict[str, Path]:
    """The CRM's apps (label -> folder): those whose code is in this repository, tests apart."""
    found = {}
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if (path.is_relative_to(REPO_ROOT) and not path.is_relative_to(REPO_ROOT / "tests")
                and "site-packages" not in path.parts):  # a virtualenv inside the checkout is not ours
            found[config.label] = path
    return found


def table_owners(labels: set[str]) -> dict[str, str]:
    """Every table of the apps `labels` -> its app: models, automatic many-to-many tables and the
    history models' tables, as the registry knows them."""
    return {model._meta.db_table: model._meta.app_label
            for model in apps.get_models(include_auto_created=True)
            if model._meta.app_label in labels and not model._meta.proxy}


def url_names() -> set[str]:
    """Every URL pattern's name: a string that is just one of these (`reverse("wallet_deposit")`,
    `"portal:wallet_transfer"`) names a page, not a table."""
    names: set[str] = set()

    def walk(patterns: list[URLPattern | URLResolver]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif pattern.name:
                names.add(pattern.name)

    walk(get_resolver().url_patterns)
    return names


def strings(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal of `source`, f-strings' literal parts included."""
    kinds = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in kinds:
            yield token.start[0], token.string


def imported_from(tree: ast.Module) -> dict[str, str]:
    """Each name a module imports -> the top package it comes from (relative imports: its own)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module.split(".")[0]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[0]
    return names


def foreign_model_tables(tree: ast.Module, app: str, packages: dict[str, str]) -> Iterator[tuple[int, str, str]]:
    """(line, expression, app) of each `<Model>._meta.db_table` of a model imported from another
    app (`Client._meta.db_table`, `Note.history.model._meta.db_table`): the table by another route."""
    names = imported_from(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr == "db_table" and isinstance(node.value, ast.Attribute)
                and node.value.attr == "_meta"):
            root = node.value.value
            while isinstance(root, ast.Attribute):
                root = root.value
            owner = packages.get(names.get(root.id, "")) if isinstance(root, ast.Name) else None
            if owner is not None and owner != app:
                yield node.lineno, ast.unparse(node), owner


def foreign_tables(app_dirs: dict[str, Path], owners: dict[str, str], pages: set[str],
                   root: Path = REPO_ROOT) -> list[Finding]:
    """Each place one app's source names a table of another app: in a string (SQL), or as another
    app's model's db_table."""
    word = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(
        re.escape(t) for t in sorted(owners, key=len, reverse=True)) + r")(?![A-Za-z0-9_])")
    page = re.compile(r"[rRbBuU]*(?P<q>'|\")(?:\w+:)?(?P<name>\w+)(?P=q)")
    packages = {folder.name: label for label, folder in app_dirs.items()}
    findings = []
    for label, folder in sorted(app_dirs.items()):
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            source = path.read_text(encoding="utf-8")
            for line, text in strings(source):
                bare = page.fullmatch(text)
                if bare and bare.group("name") in pages:
                    continue
                for match in word.finditer(text):
                    owner = owners[match.group(1)]
                    if owner != label:
                        findings.append(Finding(relative, line + text[:match.start()].count("\n"),
                                                match.group(1), owner))
            for line, expression, owner in foreign_model_tables(ast.parse(source), label, packages):
                findings.append(Finding(relative, line, expression, owner))
    return sorted(findings, key=lambda f: (f.path, f.line))


def test_the_registry_knows_every_app_and_its_tables():
    """The scan below covers what it should: every app, with history and many-to-many tables."""
    app_dirs = project_apps()
    assert {"crm", "leads", "kyc", "trading", "wallet", "ib", "portal"} <= set(app_dirs)
    owners = table_owners(set(app_dirs))
    assert owners["trading_deal"] == "trading"
    assert owners["trading_historicaltradingaccount"] == "trading"
    assert owners["crm_client"] == "crm"
    assert any(table.startswith("crm_user_") for table in owners)  # the user's groups (many-to-many)


def test_no_app_names_another_apps_tables():
    app_dirs = project_apps()
    owners = table_owners(set(app_dirs))
    findings = foreign_tables(app_dirs, owners, url_names())
    outside_history = [f for f in findings if f.path not in HISTORY]
    assert not outside_history, "SQL naming another app's tables:\n" + "\n".join(map(str, outside_history))
    # Each exception is still needed (a migration edited or removed leaves the list).
    stale = sorted(set(HISTORY) - {f.path for f in findings})
    assert not stale, f"no longer name another app's tables (remove them from HISTORY): {stale}"


def test_the_scan_finds_a_foreign_table_in_sql_and_nothing_in_page_names(tmp_path):
    """The scan itself: SQL in strings and f-strings is found with its line, and another app's
    model's db_table; comments, URL names that read like a table and the app's own tables are not."""
    folders = {"ib": tmp_path / "ib", "crm": tmp_path / "crm"}  # the folders are the apps' packages
    for folder in folders.values():
        folder.mkdir()
    (folders["ib"] / "engine.py").write_text(
        '# trading_deal in a comment\n'
        'URL = reverse("portal:wallet_deposit")\n'
        'SQL = """\nSELECT 1\nFROM trading_deal d"""\n'
        'MINE = f"SELECT * FROM ib_partner p JOIN {x} ON true JOIN crm_client c ON c.id = p.id"\n'
        'from crm.models import Client\nfrom ib.models import Partner\nfrom .models import Click\n'
        'SQL2 = f"SELECT 1 FROM {Client._meta.db_table}, {Partner._meta.db_table}, {Click._meta.db_table}"\n'
        'model = Partner\nHISTORY = Client.history.model._meta.db_table, model._meta.db_table\n',
        encoding="utf-8")
    owners = {"trading_deal": "trading", "crm_client": "crm", "ib_partner": "ib", "wallet_deposit": "wallet"}
    found = [(f.path, f.line, f.table) for f in foreign_tables(folders, owners, {"wallet_deposit"}, tmp_path)]
    assert found == [("ib/engine.py", 5, "trading_deal"), ("ib/engine.py", 6, "crm_client"),
                     ("ib/engine.py", 10, "Client._meta.db_table"),
                     ("ib/engine.py", 12, "Client.history.model._meta.db_table")]

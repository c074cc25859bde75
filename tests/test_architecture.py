"""Apps meet through their public faces: no app's SQL names another app's tables.

Where one app reads another's rows with set-based SQL (the commission engine reading deals), the
owning app publishes a view (plumbing.sqlviews; declared in its selectors, created by its
migrations, checked by its own tests) and the reader names only that. A table named in another
app's SQL is invisible to import-linter and to a rename: this test finds it.

Each app's tables come from Django's app registry (every model's db_table, the many-to-many tables
and the history tables included), so a new model is covered without listing it. Every string in
every app's Python source is read (SQL in f-strings too; comments are not code), and so is every
`<Model>._meta.db_table` of a model imported from another app (the same table by another route),
migrations included: an app's migrations may name its own tables, not another's. The exceptions are the
migrations below, applied before this rule: history, which runs once, in order, on the schema of
its day.

Nor does the import graph of the project's own modules have a circle (below): tasks call services,
and a service hands work to a task only by its name after commit (crm.lib.enqueue) or through the
event stream; what two modules both need lives in the lower one."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        # The app's SQL files (plumbing.sqlfiles): every line but its comments.
        for path in sorted(folder.rglob("*.sql")):
            relative = path.relative_to(root).as_posix()
            for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                for match in word.finditer(text.split("--", 1)[0]):
                    owner = owners[match.group(1)]
                    if owner != label:
                        findings.append(Finding(relative, line, match.group(1), owner))
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
    (folders["ib"] / "sql").mkdir()
    (folders["ib"] / "sql" / "run.sql").write_text(
        "-- reads trading_deal through trading_public_deals\nSELECT 1 FROM ib_partner p\nJOIN trading_deal d ON true\n",
        encoding="utf-8")
    owners = {"trading_deal": "trading", "crm_client": "crm", "ib_partner": "ib", "wallet_deposit": "wallet"}
    found = [(f.path, f.line, f.table) for f in foreign_tables(folders, owners, {"wallet_deposit"}, tmp_path)]
    assert found == [("ib/engine.py", 5, "trading_deal"), ("ib/engine.py", 6, "crm_client"),
                     ("ib/engine.py", 10, "Client._meta.db_table"),
                     ("ib/engine.py", 12, "Client.history.model._meta.db_table"), ("ib/sql/run.sql", 3, "trading_deal")]


# --- no circle in the import graph ------------------------------------------------------------------
#
# Every import of every module of the project's packages counts: at the top of the module, inside a
# function (how a circle hides: it works at run time, and still ties the two modules together) and
# under `if TYPE_CHECKING:` alike. Reading every file's syntax tree takes seconds, so the imports are
# found by their lines first (a few hundredths of a second); the files of a circle found that way are
# then read whole, so that an import written in a docstring or a string does not count.

IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+[.\w]+[ \t]+import[ \t]*(?:\([^)]*\)|(?:[^\n]*\\\n)*[^\n]*)"
                         r"|import[ \t]+(?:[^\n]*\\\n)*[^\n]*)", re.M)

Graph = dict[str, dict[str, set[str]]]  # module -> module it imports -> the names it takes from it


def project_modules(root: Path = REPO_ROOT) -> dict[str, Path]:
    """Every module of the project's packages (each top-level folder with an __init__.py, the tests
    apart), by its dotted name; a package by its own name (its __init__.py)."""
    modules = {}
    for init in sorted(root.glob("*/__init__.py")):
        if init.parent.name == "tests":
            continue
        for path in init.parent.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_nodes(source: str, *, whole: bool = False) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of `source`, wherever they stand; `whole`: from its syntax tree (exact,
    slow), else from its lines that read as an import statement (fast)."""
    if whole:
        yield from (n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import | ast.ImportFrom))
        return
    for match in IMPORT_LINE.finditer(source):
        try:
            yield from (n for n in ast.parse(match.group(0).strip()).body if isinstance(n, ast.Import | ast.ImportFrom))
        except SyntaxError:  # a line of a string that only looks like an import
            continue


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """`name`, or the nearest package above it, that is a module of the project (None: outside)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, modules: dict[str, Path], *, whole: bool = False) -> dict[str, set[str]]:
    """The project's modules that module `name` imports -> the names it takes from each. `from a.b
    import c` takes c from the module a.b.c when there is one, else from a.b; relative imports are
    resolved from the module's package."""
    path = modules[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, set[str]] = defaultdict(set)
    for node in import_nodes(path.read_text(encoding="utf-8"), whole=whole):
        if isinstance(node, ast.Import):
            targets = [(_known(alias.name, modules), alias.name) for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [(f"{base}.{alias.name}", alias.name) if f"{base}.{alias.name}" in modules
                       else (_known(base, modules), alias.name) for alias in node.names]
        for target, taken in targets:
            if target is not None and target != name:
                found[target].add(taken)
    return found


def import_graph(modules: dict[str, Path], *, whole: bool = False, only: Iterable[str] | None = None) -> Graph:
    return {name: imports_of(name, modules, whole=whole) for name in (modules if only is None else only)}


def strongly_connected(graph: Graph) -> list[list[str]]:
    """The circles of `graph`: each set of two or more modules that reach each other (Tarjan's
    strongly connected components, without recursion), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph.get(start, ())))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph.get(target, ()))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def import_circles(modules: dict[str, Path]) -> tuple[list[list[str]], Graph]:
    """The circles of the project's import graph and the graph that ties them: found from the import
    lines, then confirmed on the syntax trees of the files in them."""
    circles = strongly_connected(import_graph(modules))
    if not circles:
        return [], {}
    graph = import_graph(modules, whole=True, only={m for circle in circles for m in circle})
    within = {name: {t: names for t, names in targets.items() if t in graph} for name, targets in graph.items()}
    return strongly_connected(within), within


def circle_text(circle: list[str], graph: Graph, modules: dict[str, Path], root: Path = REPO_ROOT) -> str:
    lines = [f"a circle of {len(circle)} modules:"]
    for name in circle:
        for target in sorted(t for t in graph[name] if t in circle):
            lines.append(f"  {modules[name].relative_to(root).as_posix()} -> "
                         f"{modules[target].relative_to(root).as_posix()}: {', '.join(sorted(graph[name][target]))}")
    return "\n".join(lines)


# The circles not broken yet, each with what ties it (issue 59): none may grow, and a new one fails.
# Empty since trading's accounts and balance operations moved below its services, prop and demo funding
# (trading.accounts); one let in again must say here what ties it.
NOT_YET_BROKEN: dict[frozenset[str], str] = {}


def test_no_circle_in_the_import_graph():
    modules = project_modules()
    assert {"crm.events", "crm.lib.enqueue", "compliance.tasks", "kyc.checks"} <= set(modules)
    circles, graph = import_circles(modules)
    new = [c for c in circles if frozenset(c) not in NOT_YET_BROKEN]
    assert not new, ("modules that import each other (a task named by a service: crm.lib.enqueue; what both "
                     "need: into the lower one):\n" + "\n".join(circle_text(c, graph, modules) for c in new))
    gone = [sorted(c) for c in NOT_YET_BROKEN if sorted(c) not in circles]
    assert not gone, f"no longer a circle as listed (remove it from NOT_YET_BROKEN): {gone}"


TASK_NAMED = re.compile(r"""\b(?:task_named|task_send_on_commit)\(\s*["']([\w.]+)["']""")


def test_every_task_named_by_a_service_is_a_registered_task():
    """A service names its task (crm.lib.enqueue) instead of importing it: a name no task bears (a
    function's name where the decorator gives another) would fail only when the work is queued."""
    from importlib import import_module

    from celery import current_app

    named = {(path, match.group(1)) for path in project_modules().values()
             for match in TASK_NAMED.finditer(path.read_text(encoding="utf-8"))}
    assert len(named) >= 20
    for module in {name.rpartition(".")[0] for _path, name in named}:
        import_module(module)
    unknown = sorted(f"{path.relative_to(REPO_ROOT).as_posix()}: {name}" for path, name in named
                     if name not in current_app.tasks)
    assert not unknown, f"no task of this name: {unknown}"


def test_the_scan_finds_circles_hidden_in_functions_and_relative_imports(tmp_path):
    """The scan itself: a circle closed by an import inside a function, one through a relative
    import and a package's __init__, one under TYPE_CHECKING; an import in a docstring, a one-way
    import and a submodule named in `from package import module` tie nothing."""
    files = {
        "app/__init__.py": "from app.checks import run\n",
        "app/services.py": "from django.db import transaction\nfrom app import selectors\n\n\ndef go():\n"
                           "    from app.tasks import job\n    return job\n",
        "app/tasks.py": "import app.services\nfrom .views import page\n\nJOB = app.services.go\n",
        "app/selectors.py": '"""Reads.\n\n    from app.services import go\n"""\n',
        "app/views.py": "from . import selectors as s, tasks  # noqa\n",
        "app/checks/__init__.py": "from .identity import check\n\n\ndef run():\n    return check\n",
        "app/checks/identity.py": "from app.checks import Applicant\n",
        "app/checks/report.py": "from app.checks import identity\n",
        "app/demo.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.demo_more import More\n",
        "app/demo_more.py": "from app.demo import (\n    Seed,\n)\n",
        "tests/__init__.py": "", "tests/test_app.py": "from app.tasks import JOB\nfrom app.services import go\n",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    modules = project_modules(tmp_path)
    assert "tests.test_app" not in modules and "app.checks" in modules
    circles, graph = import_circles(modules)
    assert circles == [["app.checks", "app.checks.identity"], ["app.demo", "app.demo_more"],
                       ["app.services", "app.tasks", "app.views"]]
    assert graph["app.services"]["app.tasks"] == {"job"}
    assert graph["app.tasks"]["app.services"] == {"app.services"} and graph["app.tasks"]["app.views"] == {"page"}
    assert graph["app.views"]["app.tasks"] == {"tasks"}
    assert graph["app.checks.identity"] == {"app.checks": {"Applicant"}}
    assert graph["app.demo"] == {"app.demo_more": {"More"}} and graph["app.demo_more"] == {"app.demo": {"Seed"}}
    # An import in a docstring reads as one line by line; the syntax tree, which decides, knows better.
    assert imports_of("app.selectors", modules) == {"app.services": {"go"}}
    assert imports_of("app.selectors", modules, whole=True) == {}
    text = circle_text(circles[2], graph, modules, tmp_path)
    assert text.splitlines() == ["a circle of 3 modules:", "  app/services.py -> app/tasks.py: job",
                                 "  app/tasks.py -> app/services.py: app.services", "  app/tasks.py -> app/views.py: page",
                                 "  app/views.py -> app/tasks.py: tasks"]
    # The task named instead of imported: what is left is the two modules that still import each other.
    (tmp_path / "app/services.py").write_text("from app import selectors\n\n\ndef go():\n"
                                               "    return 'app.tasks.job'\n", encoding="utf-8")
    assert import_circles(modules)[0][2:] == [["app.tasks", "app.views"]]


# --- lifecycles -----------------------------------------------------------------------------------
# Every field named status, state or stage that has choices is a lifecycle, and moves through one
# registered crm.lib.states.StateMachine (its table tested against the choices in
# tests/crm/test_state_machines.py), unless it is listed below as not a lifecycle, with the reason.

LIFECYCLE_FIELDS = ("status", "state", "stage")

NOT_LIFECYCLES = {
    "compliance.Jurisdiction.status": "a classification over time, not a life: each change is a new row with its "
                                      "dates (compliance.jurisdictions), a row's status is never moved",
    "leads.AgentAvailability.status": "a switch the agent or a manager sets to any value at any time (available, "
                                      "on leave, absent): no move is refused",
    "integrations.WebhookSubscriber.status": "a switch (active or paused), paused by failures or an administrator and "
                                    "resumed by one: no move is refused",
    "reports.ReportDelivery.status": "the outcome of one sending, written once when the row is created "
                                     "(reports.delivery) and never changed",
    "marketing.SequenceDelivery.status": "the outcome of one sequence step for one client, written once when the "
                                         "row is created (marketing.sequences) and never changed",
}

# Lifecycles still moved by hand (issue 59, item 1, not finished): each fails the test below as soon as
# a machine guards it, so that the list only shrinks.
NOT_YET: set[str] = set()


def lifecycle_fields(models: Iterable[Any]) -> dict[str, set[str]]:
    """"app_label.Model.field" of every status, state or stage field with choices, with the values of
    its choices; the history copies (django-simple-history) are left out: they record, never move."""
    found: dict[str, set[str]] = {}
    for model in models:
        if getattr(model, "instance_type", None) is not None:  # a HistoricalX model
            continue
        for field in model._meta.concrete_fields:
            if field.name in LIFECYCLE_FIELDS and field.choices:
                found[f"{model._meta.label}.{field.name}"] = {str(value) for value, _label in field.choices}
    return found


def test_every_status_field_moves_through_a_registered_state_machine():
    from crm.lib.states import machine_for, machines

    fields = lifecycle_fields(apps.get_models())
    guarded = {}
    for name in fields:
        label, field = name.rsplit(".", 1)
        machine = machine_for(label, field)
        if machine is not None:
            guarded[name] = machine
    unguarded = sorted(set(fields) - set(guarded) - set(NOT_LIFECYCLES) - NOT_YET)
    assert not unguarded, ("status fields that no crm.lib.states.StateMachine guards (declare one with "
                           f"model= and state_field=, or list the field in NOT_LIFECYCLES with why): {unguarded}")
    for name, machine in guarded.items():
        assert set(machine.states.values) == fields[name], f"{machine.name}: its states are not {name}'s choices"
    # Every machine names a field that exists, and every exception is still needed.
    assert not [m.name for m in machines() if f"{m.model}.{m.state_field}" not in fields]
    stale = sorted((set(NOT_LIFECYCLES) | NOT_YET) & set(guarded))
    assert not stale, f"guarded by a machine now (remove them from the lists): {stale}"
    gone = sorted((set(NOT_LIFECYCLES) | NOT_YET) - set(fields))
    assert not gone, f"no longer status fields with choices (remove them from the lists): {gone}"


def test_the_lifecycle_scan_finds_status_fields_with_choices_and_not_their_history():
    from compliance.models import Case
    from leads.models import RoutingPointer
    from wallet.models import Withdrawal

    # Case's history copy has the same status field; RoutingPointer's `state` is JSON without choices.
    found = lifecycle_fields([Withdrawal, Case, Case.history.model, RoutingPointer])
    assert found == {"wallet.Withdrawal.state": {"requested", "approved", "processing", "unknown", "paid", "failed",
                                                 "cancelled", "rejected"},
                     "compliance.Case.status": {"open", "in_review", "pending_approval", "closed"}}


def test_every_status_field_has_choices_so_that_its_machine_is_checked():
    """A status kept as free text (no choices) escapes the scan above: every text or integer field named
    status, state or stage of a model (not its history copy) declares its choices."""
    loose = []
    for model in apps.get_models():
        if getattr(model, "instance_type", None) is not None:
            continue
        for field in model._meta.concrete_fields:
            if (field.name in LIFECYCLE_FIELDS and not field.choices and not field.is_relation
                    and field.get_internal_type() in {"CharField", "TextField", "IntegerField", "SmallIntegerField",
                                                      "PositiveSmallIntegerField", "PositiveIntegerField"}):
                loose.append(f"{model._meta.label}.{field.name}")
    assert not loose, f"status fields without choices (give them TextChoices and a StateMachine): {sorted(loose)}"


# --- type: ignore -----------------------------------------------------------------------------------
# mypy checks every module of every app strictly ([tool.mypy] files, migrations excluded). Where it is
# told to look away, the comment names the error it silences (so that another error on the same line
# still shows) and says why, on the same line: `# type: ignore[attr-defined]  # for the template only`.
IGNORE_COMMENT = re.compile(r"type:\s*ignore\b(?P<rest>.*)", re.IGNORECASE)
IGNORE_WELL_FORMED = re.compile(r"^\[[a-z-]+(?:,\s*[a-z-]+)*\]\s+#\s*(?P<reason>\S.*)$")


def typed_sources(root: Path = REPO_ROOT) -> list[Path]:
    """The files mypy checks: [tool.mypy] files of pyproject.toml, without migrations."""
    import tomllib

    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    found: list[Path] = []
    for entry in config["files"]:
        base = root / entry
        paths = [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))
        found.extend(p for p in paths if "migrations" not in p.relative_to(root).parts)
    return found


def bad_type_ignores(source: str) -> Iterator[tuple[int, str]]:
    """(line, comment) of each `type: ignore` without an error code or without a reason after it."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        found = IGNORE_COMMENT.search(token.string)
        if found is None:
            continue
        well_formed = IGNORE_WELL_FORMED.match(found["rest"])
        if well_formed is None or len(well_formed["reason"].split()) < 2:
            yield token.start[0], token.string


def test_every_type_ignore_names_its_error_and_says_why():
    files = typed_sources()
    assert len(files) > 500  # every app, not a path that moved
    bad = [f"{path.relative_to(REPO_ROOT)}:{line}: {comment}"
           for path in files for line, comment in bad_type_ignores(path.read_text(encoding="utf-8"))]
    assert not bad, ("a type: ignore must name its error code and say why on the same line "
                     "(`# type: ignore[attr-defined]  # for the template only`):\n" + "\n".join(bad))


def test_the_type_ignore_scan_finds_bare_and_unexplained_ignores_and_not_strings():
    source = (
        "a = f()  # type: ignore\n"
        "b = f()  # type: ignore[attr-defined]\n"
        "c = f()  # type: ignore[attr-defined] # x\n"
        "d = f()  # type:ignore  # no code given\n"
        "e = f()  # type: ignore[arg-type, misc]  # the stubs lag the library\n"
        "g = f()  # type: ignore[misc]  # gunicorn ships no types\n"
        "h = '# type: ignore'  # a string is not a comment\n"
        "i = f()  # noqa: S308 - type: ignore is not needed here\n"
    )
    assert [line for line, _comment in bad_type_ignores(source)] == [1, 2, 3, 4, 8]


# --- SQL as code, not strings -----------------------------------------------------------------------
# SQL that is more than a lookup lives in an app's named .sql files (plumbing.sqlfiles) or is composed
# with psycopg.sql (Identifier, Literal, SQL), never in a Python f-string, nor by % or str.format, and no
# linter is told to look away from one (a noqa comment for S608, or S608 in ruff's per-file ignores). A
# statement is known by its first word (SELECT, INSERT, UPDATE, DELETE, WITH, in capitals as this code
# writes SQL).
#
# Every Python file of the repository is read (migrations apart: history, not edited), the apps, the
# simulator kit, name matching, the benchmarks, the examples and the tests alike. A WITH counts when it
# opens a query (WITH [RECURSIVE] name AS, or name(columns) AS), not as a view's options or WITH NO DATA.
SQL_START = re.compile(r"\s*\(?\s*(SELECT|INSERT|UPDATE|DELETE|WITH\s+(RECURSIVE\s+)?\w+\s*(\([^)]*\)\s*)?AS)\s")
SKIPPED = {".venv", "var", "node_modules", "static", "templates", "locale"}
SUPPRESSED = re.compile(r"\bnoqa\s*:[\sA-Z0-9,]*\bS608\b")


def formatted_sql(source: str) -> Iterator[tuple[int, str]]:
    """(line, how) of each SQL statement `source` builds by formatting a string: an f-string, `%` or
    `.format` whose text starts as a statement does."""
    for node in ast.walk(ast.parse(source)):
        text, how = None, ""
        if isinstance(node, ast.JoinedStr):
            text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
            how = "an f-string"
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)
              and isinstance(node.left.value, str)):
            text, how = node.left.value, "% formatting"
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
              and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)):
            text, how = node.func.value.value, "str.format"
        if text is not None and SQL_START.match(text):
            yield node.lineno, how


def suppressed_sql_checks(source: str) -> Iterator[int]:
    """The lines of `source` whose comment tells ruff not to look at SQL built from strings (S608)."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and SUPPRESSED.search(token.string):
            yield token.start[0]


def sql_sources(root: Path = REPO_ROOT) -> list[Path]:
    """Every Python file of the repository's own folders but migrations."""
    return sorted(path for path in root.rglob("*.py")
                  if not ({"migrations", "site-packages"} & set(path.parts))
                  and not (path.relative_to(root).parts[0] in SKIPPED or path.relative_to(root).parts[0].startswith(".")
                           or path.relative_to(root).parts[0].endswith(".egg-info")))


def test_no_sql_is_built_from_strings_nor_its_check_silenced():
    files = sql_sources()
    read = {path.relative_to(REPO_ROOT).parts[0] for path in files}
    assert {"crm", "compliance", "trading", "wallet", "ib", "monitoring", "benchmarks", "tests"} <= read
    found = [f"{path.relative_to(REPO_ROOT)}:{line}: SQL built with {how}"
             for path in files for line, how in formatted_sql(path.read_text(encoding="utf-8"))]
    found += [f"{path.relative_to(REPO_ROOT)}:{line}: noqa: S608"
              for path in files for line in suppressed_sql_checks(path.read_text(encoding="utf-8"))]
    assert not found, ("SQL goes in the app's sql/ files (plumbing.sqlfiles) or is composed with psycopg.sql, "
                       "never built from strings:\n" + "\n".join(found))


def test_no_file_is_spared_ruffs_check_of_sql_built_from_strings():
    import tomllib

    ignores = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"][
        "per-file-ignores"]
    spared = sorted(pattern for pattern, codes in ignores.items() if "S608" in codes)
    assert not spared, f"S608 ignored for {spared}: move their SQL to sql/ files or psycopg.sql"


def test_the_sql_scan_finds_formatted_statements_and_silenced_checks_and_not_text():
    source = (
        'a = f"SELECT * FROM {table} WHERE id = %s"\n'
        'b = f"""\n  WITH x AS (SELECT 1) SELECT * FROM x WHERE {c}"""\n'
        'c = "UPDATE t SET a = %s" % value\n'
        'd = "DELETE FROM {t}".format(t=name)\n'
        'e = f"Select a client from {brand}" + f" WITH ({options}) AS SELECT 1"  # words, view options\n'
        'g = "SELECT 1 FROM t WHERE a = %s"  # a constant, with a bound value\n'
        'h = f"{n} rows"  # noqa: E501\n'
        'i = sql.SQL("INSERT INTO {} VALUES (%s)").format(sql.Identifier(t))  # psycopg.sql composes it\n'
        'j = build(x)  # noqa: E501, S' '608 - no longer allowed\n'
        'k = "noqa: S' '608 in a string is not a comment"\n'
    )
    assert list(formatted_sql(source)) == [(1, "an f-string"), (2, "an f-string"), (4, "% formatting"),
                                           (5, "str.format")]
    assert list(suppressed_sql_checks(source)) == [10]


# --- permissions and selectors (issue 59, item 5) ------------------------------------------------------

# Views that still read their own app's models directly although the app has selectors, with how many
# such reads each holds: the count may only go down (a new view reads through the app's selectors),
# and the test fails when an entry is no longer needed, so that it is lowered or removed.
DIRECT_READS_LEFT = {
    "automation/views.py": 1, "compliance/cases_views.py": 1, "compliance/views_restrictions.py": 1,
    "compliance/views_risk.py": 1, "crm/views/deliveries.py": 1, "crm/views/jobs.py": 1,
    "crm/views/notifications.py": 1, "crm/views/restrictions.py": 1, "crm/views/staff.py": 4,
    "ib/plan_views.py": 3, "ib/settlement_views.py": 2, "ib/views.py": 5, "kyc/questionnaire_views.py": 5,
    "kyc/views.py": 2, "leads/sales_views.py": 5, "leads/views.py": 9, "portal/security_views.py": 1,
    "portal/views.py": 1, "trading/views.py": 2, "wallet/close_views.py": 1, "wallet/deposit_views.py": 1,
    "wallet/policy_views.py": 1, "wallet/provider_views.py": 2, "wallet/reconciliation_views.py": 3,
}


def view_modules(folder: Path) -> list[Path]:
    """An app's page modules: views.py, *_views.py, views_*.py and the modules of a views/ package."""
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.parts and (
        p.name == "views.py" or p.stem.endswith("_views") or p.stem.startswith("views_")
        or p.parent.name == "views"))


def own_model_reads(source: str, app_module: str) -> list[tuple[int, str]]:
    """Each `<Model>.objects` of a model imported from `<app_module>.models` (at module level or in a
    function): (line, model)."""
    tree = ast.parse(source)
    models = {alias.asname or alias.name for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module == f"{app_module}.models" and not node.level
              for alias in node.names}
    return sorted((node.lineno, node.value.id) for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and node.attr == "objects" and isinstance(node.value, ast.Name)
                  and node.value.id in models)


def app_packages() -> dict[str, tuple[str, Path]]:
    """Each of the project's apps: label -> (module, folder)."""
    return {config.label: (config.name, Path(config.path).resolve()) for config in apps.get_app_configs()
            if config.label in project_apps()}


# Apps with pages still without a permissions module, and why: the test fails once one has it.
PERMISSIONS_PENDING: dict[str, str] = {}


def test_every_app_with_pages_has_a_permissions_module_saying_who_may_do_what() -> None:
    missing = [module for module, folder in app_packages().values()
               if view_modules(folder) and not (folder / "permissions.py").is_file()]
    assert sorted(missing) == sorted(m for m in PERMISSIONS_PENDING if m in missing), (
        f"apps with pages and no permissions.py: {missing}")
    done = [m for m in PERMISSIONS_PENDING if (REPO_ROOT / m / "permissions.py").is_file()]
    assert not done, f"PERMISSIONS_PENDING lists apps that have one now (remove them): {done}"
    for module, folder in app_packages().values():
        if (folder / "permissions.py").is_file():
            assert ast.get_docstring(ast.parse((folder / "permissions.py").read_text(encoding="utf-8"))), module


def test_pages_read_their_own_apps_models_through_its_selectors() -> None:
    found: dict[str, list[tuple[int, str]]] = {}
    for module, folder in app_packages().values():
        if not (folder / "selectors.py").is_file():
            continue
        for path in view_modules(folder):
            reads = own_model_reads(path.read_text(encoding="utf-8"), module)
            if reads:
                found[path.relative_to(REPO_ROOT).as_posix()] = reads
    over = {path: reads for path, reads in found.items() if len(reads) > DIRECT_READS_LEFT.get(path, 0)}
    assert not over, ("pages reading their app's models directly (read through its selectors, which scope "
                      f"them by the app's permissions): {over}")
    stale = {path: (allowed, len(found.get(path, []))) for path, allowed in DIRECT_READS_LEFT.items()
             if len(found.get(path, [])) < allowed}
    assert not stale, f"DIRECT_READS_LEFT allows more than is left (lower or remove them): {stale}"


def test_the_scan_of_direct_reads_finds_them_in_functions_and_not_other_apps_models() -> None:
    source = ("from monitoring.models import Cover, Notice as N\nfrom crm.models import User\n"
              "def page():\n    from monitoring.models import Shift\n"
              "    return Cover.objects.all(), N.objects.first(), Shift.objects, User.objects.all()\n")
    assert own_model_reads(source, "monitoring") == [(5, "Cover"), (5, "N"), (5, "Shift")]
    assert own_model_reads(source, "crm") == [(5, "User")]

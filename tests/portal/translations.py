"""The trader's room's messages and the catalogues that translate them, for tests/portal/test_translations.py
(and for whoever adds a language: `portal_messages()` lists what to translate).

The room's messages are what Django's makemessages finds in the room's surfaces (SURFACES): its Python
code, its templates, the other apps' partials and requester pages its pages include and the errors
of the services it calls, found by running makemessages on a copy of those files only; and the labels
of other apps' choices that its pages show (CHOICES).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import to_locale

REPO_ROOT = Path(__file__).resolve().parents[2]

# The room's surfaces: its code (not its demo-data commands nor migrations), its templates, and the
# partials of other apps that its pages include (prop challenges' progress and rules, support's
# requester pages).
SURFACES = (
    "portal/*.py",
    "templates/portal/**/*.html",
    "templates/portal/**/*.txt",
    "templates/trading/prop/_ending.html",
    "templates/trading/prop/_progress.html",
    "templates/trading/prop/_rules.html",
    "templates/support/_requester_*.html",
    "support/requester_pages.py",
    # What the room's forms and pages say when a service refuses: amounts, text and the generic
    # domain errors, the wallet's (insufficient funds, each reason a withdrawal cannot be made yet),
    # the platform's and the verification vendor's.
    "crm/exceptions.py",
    "crm/lib/money.py",
    "crm/lib/validation.py",
    "wallet/exceptions.py",
    "wallet/withdrawals.py",
    "trading/exceptions.py",
    "kyc/exceptions.py",
)

# The choices of other apps' models that the room's pages show by name (get_FOO_display): a deposit's
# status and method, a withdrawal's, a transfer's, a challenge's, a ticket's, a data request's, a
# KYC document's kind and side.
CHOICES = (
    ("wallet.Deposit", "status"), ("wallet.Deposit", "method"), ("wallet.Withdrawal", "state"),
    ("wallet.Transfer", "state"), ("trading.Challenge", "state"), ("trading.ChallengeProduct", "max_loss_mode"),
    ("trading.ChallengeProduct", "daily_loss_basis"), ("support.Ticket", "status"), ("support.Ticket", "category"),
    ("compliance.DataSubjectRequest", "kind"), ("compliance.DataSubjectRequest", "status"),
    ("kyc.Document", "kind"), ("kyc.Document", "side"),
)

# The catalogues Django reads for a language, in its order (LOCALE_PATHS, then the apps): a message is
# translated when one of them translates it (a fuzzy entry is not compiled, so Django goes on to the next).
CATALOGUES = ("locale", "portal/locale", "support/locale", "trading/locale", "crm/locale")


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.msgctxt, self.msgid)

    @property
    def translated(self) -> bool:
        return "fuzzy" not in self.flags and bool(self.msgstr) and all(self.msgstr.values())


def _unquote(text: str) -> str:
    value = ast.literal_eval(text)
    assert isinstance(value, str)
    return value


def parse_po(text: str) -> list[Entry]:
    """The entries of a .po file (the header, msgid "", left out); obsolete (#~) entries are skipped."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None
    flags: set[str] = set()
    references: list[str] = []

    def close() -> None:
        nonlocal current
        if current is not None and current.msgid:
            entries.append(current)
        current = None

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#~"):
            if not line:
                close()
            continue
        if line.startswith("#,"):
            close()
            flags |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#:"):
            close()
            references += line[2:].split()
        elif line.startswith("#"):
            close()
        elif line.startswith('"'):
            assert current is not None and target is not None, raw
            name, index = target
            if name == "msgstr":
                current.msgstr[index] += _unquote(line)
            else:
                setattr(current, name, (getattr(current, name) or "") + _unquote(line))
        else:
            keyword, _, rest = line.partition(" ")
            if keyword in ("msgctxt", "msgid") and (current is None or current.msgstr or keyword == "msgctxt"):
                close()
            if current is None:
                current, flags, references = Entry(msgid="", flags=flags, references=references), set(), []
            if keyword.startswith("msgstr"):
                index = int(keyword[7:-1]) if "[" in keyword else 0
                current.msgstr[index] = _unquote(rest)
                target = ("msgstr", index)
            else:
                setattr(current, keyword, _unquote(rest))
                target = (keyword, 0)
    close()
    return entries


def portal_messages() -> list[Entry]:
    """The room's messages, as makemessages extracts them from SURFACES (needs GNU gettext's xgettext)."""
    return surface_messages(SURFACES)


def surface_messages(surfaces: tuple[str, ...]) -> list[Entry]:
    """The messages makemessages extracts from the files of `surfaces` (glob patterns under the
    repository), run on a copy of those files only (needs GNU gettext's xgettext)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for pattern in surfaces:
            for path in sorted(REPO_ROOT.glob(pattern)):
                copy = root / path.relative_to(REPO_ROOT)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
        (root / "locale").mkdir()
        env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
        subprocess.run([sys.executable, "-m", "django", "makemessages", "--locale", "xx", "--extension", "html,txt,py",
                        "--no-wrap", "--ignore", "locale/*"], cwd=root, env=env, check=True, capture_output=True)
        return parse_po((root / "locale" / "xx" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8"))


def choice_messages(choices: tuple[tuple[str, str], ...] = CHOICES) -> list[Entry]:
    """The labels of CHOICES (or `choices`), as written in the code (read in English, which no catalogue
    translates)."""
    from django.apps import apps
    from django.utils import translation

    found: dict[str, Entry] = {}
    with translation.override("en"):
        for model, name in choices:
            for _value, label in apps.get_model(model)._meta.get_field(name).choices or ():
                found.setdefault(str(label), Entry(msgid=str(label)))
    return list(found.values())


def catalogue_entries(language: str, catalogues: tuple[str, ...] = CATALOGUES) -> dict[tuple[str | None, str], list[Entry]]:
    """Every entry of the language's catalogues (CATALOGUES, or `catalogues`), by (msgctxt, msgid)."""
    found: dict[tuple[str | None, str], list[Entry]] = {}
    for folder in catalogues:
        po = REPO_ROOT / folder / to_locale(language) / "LC_MESSAGES" / "django.po"
        if po.exists():
            for entry in parse_po(po.read_text(encoding="utf-8")):
                found.setdefault(entry.key, []).append(entry)
    return found


def untranslated(language: str, messages: list[Entry], catalogues: tuple[str, ...] = CATALOGUES) -> list[str]:
    """The messages that no catalogue of the language translates (or only a fuzzy entry does)."""
    found = catalogue_entries(language, catalogues)
    return [message.msgid for message in messages
            if not any(entry.translated for entry in found.get(message.key, []))]

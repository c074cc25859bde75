"""`manage.py collectstatic_if_changed`: Django's collectstatic (same options), skipped when the files
it would collect are the same as at the last collection (each file's name, size and modification
time, the storage and STATIC_ROOT) and the manifest is still there. `make run` uses it: collecting
hashes and compresses every file again (gzip and brotli, source maps of a few megabytes among them),
a minute or two on a slow machine, at every start.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.management.commands import collectstatic

MARK = ".collected"  # in STATIC_ROOT: the fingerprint of the files of the last collection


def fingerprint(ignore_patterns: list[str]) -> str:
    digest = hashlib.sha256(f"{settings.STORAGES['staticfiles']['BACKEND']}\n{settings.STATIC_ROOT}\n".encode())
    entries = []
    for finder in get_finders():
        for path, storage in finder.list(ignore_patterns):
            stat = os.stat(storage.path(path))
            entries.append(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}")
    for entry in sorted(entries):
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()


class Command(collectstatic.Command):
    help = "Collect static files, unless they are unchanged since the last collection."

    def handle(self, **options: Any) -> str | None:
        root = Path(settings.STATIC_ROOT)
        ignore = list(options.get("ignore_patterns") or [])
        if options.get("use_default_ignore_patterns", True):
            # as collectstatic itself does (StaticFilesConfig.ignore_patterns)
            ignore += getattr(apps.get_app_config("staticfiles"), "ignore_patterns", [])
        now = fingerprint(ignore)
        mark = root / MARK
        manifest = root / "staticfiles.json"
        try:
            same = mark.read_text() == now and manifest.is_file()
        except OSError:
            same = False
        if same:
            if options["verbosity"] >= 1:
                self.stdout.write("Static files unchanged since the last collection.")
            return None
        mark.unlink(missing_ok=True)  # a collection stopped halfway is not taken for a finished one
        result = super().handle(**options)
        root.mkdir(parents=True, exist_ok=True)
        mark.write_text(now)
        return result

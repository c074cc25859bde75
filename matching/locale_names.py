"""Country names in every language phonenumbers knows, without Django and without the geocoding table
(shared by the country choices, the address matcher and the watchlists' parsers)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any


@cache
def locale_data() -> dict[str, dict[str, str]]:
    """{alpha-2: {language: name or "*xx"}}, about 3 MB: phonenumbers' locale table, read without
    importing its geodata package (whose import loads the geocoding table of every number prefix)."""
    package = importlib.util.find_spec("phonenumbers")
    assert package is not None and package.origin is not None  # noqa: S101 - a dependency of the CRM
    path = Path(package.origin).parent / "geodata" / "locale.py"
    spec = importlib.util.spec_from_file_location("phonenumbers.geodata.locale", path)
    assert spec is not None and spec.loader is not None  # noqa: S101
    module: Any = importlib.util.module_from_spec(spec)
    # Its one import, `from ..util import u`, is resolved against this package without importing it.
    module.__package__ = "phonenumbers.geodata"
    spec.loader.exec_module(module)
    return dict(module.LOCALE_DATA)

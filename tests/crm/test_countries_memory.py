"""Country names come from phonenumbers' locale table without its geocoding table: every web and
Celery process imports the country list, and the geocoding data of every number prefix cost each of
them about 100 MB for nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_CHILD = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings.test"
import django
django.setup()
from crm.lib.countries import country_choices, country_name
names = [country_name("GB"), country_name("DE", "ar"), dict(country_choices("en"))["JP"]]
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"names": names, "geodata": sorted(m for m in sys.modules if m.startswith("phonenumbers.geodata")),
                  "peak_mb": peak / 1024}))
"""


def test_a_process_that_names_countries_does_not_load_the_geocoding_table(tmp_path):
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO, capture_output=True, text=True, timeout=300,  # noqa: S603
                          check=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
                                           "CRM_VAR_DIR": str(tmp_path)})
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["names"] == ["United Kingdom", "Germany", "Japan"], result
    assert result["geodata"] == [], result
    assert result["peak_mb"] < 180, result  # Django and every app; 220 MB with the geocoding table

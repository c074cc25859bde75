"""Static files build as production builds them: `make run`, the Dockerfile and deployments run
collectstatic with the compressed manifest storage, which fails on any reference it cannot resolve
(a vendored library pointing at a source map that is not shipped, say)."""

from __future__ import annotations

import json

from django.core.management import call_command
from django.test import override_settings

PRODUCTION_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def test_collectstatic_with_the_production_storage_resolves_every_reference(tmp_path):
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=PRODUCTION_STORAGES):
        call_command("collectstatic", "--noinput", verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    for vendored in ("vendor/htmx/htmx.min.js", "vendor/chartjs/chart.umd.min.js"):
        assert vendored in manifest, vendored
        assert (tmp_path / manifest[vendored]).exists()

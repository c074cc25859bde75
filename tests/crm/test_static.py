"""Static files build as production builds them: `make run`, the Dockerfile and deployments run
collectstatic with the compressed manifest storage, which fails on any reference it cannot resolve
(a vendored library pointing at a source map that is not shipped, say)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from whitenoise import compress  # type: ignore[import-untyped]

PRODUCTION_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def test_collectstatic_with_the_production_storage_resolves_every_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each file is compressed as in production (gzip, and brotli where installed, beside it), but
    # brotli at its fastest level: at its best (11) it was nine tenths of this test, and the level
    # changes no reference.
    if compress.brotli_installed:
        monkeypatch.setattr(compress.Compressor, "compress_brotli",
                            staticmethod(lambda data: compress.brotli.compress(data, quality=1)))
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=PRODUCTION_STORAGES):
        call_command("collectstatic", "--noinput", verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    for vendored in ("vendor/htmx/htmx.min.js", "vendor/chartjs/chart.umd.min.js"):
        assert vendored in manifest, vendored
        assert (tmp_path / manifest[vendored]).exists()
        assert (tmp_path / f"{manifest[vendored]}.gz").exists()
        assert (tmp_path / f"{manifest[vendored]}.br").exists() or not compress.brotli_installed

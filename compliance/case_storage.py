"""Private storage of the files officers add to compliance cases, kept as KYC documents are: a
directory of its own (settings.COMPLIANCE_CASE_STORAGE_DIR, default under the CRM's var directory),
never under MEDIA_ROOT or anything a web server serves; files named by a random uuid with the
extension of their checked content type, in a folder per first two characters, mode 0600, never
overwritten. Only PNG, JPEG and PDF are taken, recognised by their content, up to
COMPLIANCE_CASE_MAX_UPLOAD_BYTES."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext

from crm.exceptions import ValidationFailed
from crm.lib.private_files import PrivateStore

PNG, JPEG, PDF = "image/png", "image/jpeg", "application/pdf"
EXTENSIONS = {PNG: "png", JPEG: "jpg", PDF: "pdf"}
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG), (b"%PDF-", PDF))
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


def max_bytes() -> int:
    return int(getattr(settings, "COMPLIANCE_CASE_MAX_UPLOAD_BYTES", DEFAULT_MAX_BYTES))


def storage_root() -> Path:
    configured = getattr(settings, "COMPLIANCE_CASE_STORAGE_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "compliance-case-files"


def check(data: bytes) -> str:
    """The content type of `data` if it is a PNG, JPEG or PDF within the size limit; else
    ValidationFailed on the field "file" saying what is wrong."""
    if not data:
        raise ValidationFailed(fields={"file": [gettext("The file is empty.")]})
    if len(data) > max_bytes():
        raise ValidationFailed(fields={"file": [gettext("The file is larger than %(size)s.")
                                                % {"size": filesizeformat(max_bytes())}]})
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    raise ValidationFailed(fields={"file": [gettext("Only PDF, PNG and JPEG files can be added to a case.")]})


_STORE = PrivateStore(storage_root)


def new_name(content_type: str) -> str:
    return _STORE.new_name(EXTENSIONS[content_type])


file_write, file_remove, file_read = _STORE.write, _STORE.remove, _STORE.read

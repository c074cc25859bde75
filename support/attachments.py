"""Private storage of tickets' attachments, kept as KYC documents are: a directory of its own
(settings.SUPPORT_ATTACHMENT_DIR, default under the CRM's var directory), never under MEDIA_ROOT
or anything a web server serves; files named by a random uuid with the extension of their checked
content type, encrypted with the brand's key. What is taken is what the KYC upload checks take
(kyc.services.upload_validate: PNG, JPEG or PDF recognised by content, within the size and page
limits, no decompression bombs, no active PDF content)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext

from crm.exceptions import ValidationFailed
from crm.lib.errors import DomainError
from crm.lib.private_files import PrivateStore
from kyc import services as upload_checks

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}
MAX_FILES = 5


def storage_root() -> Path:
    configured = getattr(settings, "SUPPORT_ATTACHMENT_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "support-files"


STORE = PrivateStore(storage_root)


@dataclass(frozen=True)
class Checked:
    name: str
    content_type: str
    data: bytes
    sha256: str


def _checked(item: Any, field: str) -> Any:
    """The KYC check of an attachment given as (name, content type, bytes) or as a file object (read
    no further than one byte past the limit)."""
    if isinstance(item, tuple):
        return upload_checks.upload_validate(bytes(item[2]), filename=str(item[0] or "attachment"), field=field)
    return upload_checks.upload_read(item, filename=str(getattr(item, "name", "") or "attachment"), field=field)


def attachments_check(items: Iterable[Any], *, field: str = "attachments",
                      skip_refused: bool = False) -> tuple[list[Checked], list[tuple[str, str]]]:
    """The attachments that pass the KYC upload checks, and (name, why) of each refused one.

    Refused files raise ValidationFailed on `field` (naming the file and why) unless `skip_refused`
    (mail: a message is never lost for its attachment; the refusal is noted on the ticket)."""
    files = list(items)
    if len(files) > MAX_FILES and not skip_refused:
        raise ValidationFailed(fields={field: [gettext("At most %(n)s files.") % {"n": MAX_FILES}]})
    taken: list[Checked] = []
    refused: list[tuple[str, str]] = []
    for item in files:
        name = str(item[0] if isinstance(item, tuple) else getattr(item, "name", "")) or "attachment"
        try:
            upload = _checked(item, field)
        except DomainError as error:
            if not skip_refused:
                raise ValidationFailed(fields={field: [f"{name}: {error.message}"]}) from None
            refused.append((name, error.message))
            continue
        if len(taken) >= MAX_FILES:
            refused.append((name, gettext("More than %(n)s files.") % {"n": MAX_FILES}))
            continue
        taken.append(Checked(name=upload.filename, content_type=upload.content_type, data=upload.data,
                             sha256=upload.sha256))
    return taken, refused


def attachment_store(checked: Checked, *, scope: str) -> str:
    """Write the file under a new random name (encrypted with `scope`'s key); return the name."""
    name = STORE.new_name(EXTENSIONS[checked.content_type])
    STORE.write(name, checked.data, scope=scope)
    return name


def attachment_read(storage_name: str) -> bytes:
    return STORE.read(storage_name)

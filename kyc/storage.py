"""Private storage of KYC documents: a directory of their own (settings.KYC_STORAGE_DIR, under the
CRM's var directory by default), never under MEDIA_ROOT or anything a web server serves.

Files are named by a random uuid with the extension of their checked content type, in a folder per
first two characters; the name the client gave is never part of a path. Files are written with
mode 0600 and never overwritten (O_EXCL). Reading goes through `document_bytes` only, which the
permission-checked views call.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from crm.lib.private_files import PrivateStore
from kyc.uploads import EXTENSIONS


def storage_root() -> Path:
    return Path(settings.KYC_STORAGE_DIR)


_STORE = PrivateStore(storage_root)


def new_name(content_type: str) -> str:
    return _STORE.new_name(EXTENSIONS[content_type])


file_write, file_remove, file_read, file_exists = _STORE.write, _STORE.remove, _STORE.read, _STORE.exists

"""Private storage of KYC documents: a directory of their own (settings.KYC_STORAGE_DIR, under the
CRM's var directory by default), never under MEDIA_ROOT or anything a web server serves.

Files are named by a random uuid with the extension of their checked content type, in a folder per
first two characters; the name the client gave is never part of a path. Files are written with
mode 0600 and never overwritten (O_EXCL). Reading goes through `document_bytes` only, which the
permission-checked views call.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from django.conf import settings

from kyc.uploads import EXTENSIONS


def storage_root() -> Path:
    return Path(settings.KYC_STORAGE_DIR)


def _path(name: str) -> Path:
    # The name is ours (uuid + extension), but a row edited by hand must still not reach outside.
    if "/" in name or "\\" in name or name.startswith(".") or not name:
        raise ValueError("bad storage name")
    return storage_root() / name[:2] / name


def new_name(content_type: str) -> str:
    return f"{uuid.uuid4().hex}.{EXTENSIONS[content_type]}"


def file_write(name: str, data: bytes) -> None:
    path = _path(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def file_remove(name: str) -> None:
    _path(name).unlink(missing_ok=True)


def file_read(name: str) -> bytes:
    return _path(name).read_bytes()


def file_exists(name: str) -> bool:
    return _path(name).exists()

"""Private file storage: a directory of its own, never under MEDIA_ROOT or anything a web server
serves. Files are named by a random uuid with an extension the caller checked, in a folder per first
two characters (the name a person gave a file is never part of a path); written with mode 0600,
synced, and never overwritten (O_EXCL). KYC documents and compliance case files are kept this way.

Files are encrypted at rest with a data key of their own, wrapped by their brand's key
(plumbing.envelope): the wrapped key sits beside the file as `<name>.key`, and a key rotation
rewrites only those (`rewrap_all`). A file written before encryption was switched on is read as it
is. CRM_ENCRYPT_FILES=0 stores new files in plain (not for production)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crm.lib.keyring import keyring
from plumbing import envelope

KEY_SUFFIX = ".key"


def _encrypting() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "CRM_ENCRYPT_FILES", True))


def _write_new(path: Path, data: bytes) -> None:
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


@dataclass
class Rewrapped:
    rewrapped: int = 0
    current: int = 0


class PrivateStore:
    """Files under the directory `root()` gives (read at each call: settings may change in tests)."""

    def __init__(self, root: Callable[[], Path]) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        # The name is ours (uuid + extension), but a row edited by hand must still not reach outside.
        if "/" in name or "\\" in name or name.startswith(".") or not name:
            raise ValueError("bad storage name")
        return self.root() / name[:2] / name

    @staticmethod
    def new_name(extension: str) -> str:
        return f"{uuid.uuid4().hex}.{extension}"

    def write(self, name: str, data: bytes, *, scope: str = envelope.DEFAULT_SCOPE) -> None:
        """Store `data` as `name`, encrypted with a key of `scope` (a brand's code)."""
        path = self.path(name)
        if not _encrypting():
            _write_new(path, data)
            return
        body, sidecar = envelope.encrypt(name, data, scope=scope, ring=keyring())
        key_path = path.with_name(name + KEY_SUFFIX)
        _write_new(key_path, sidecar)  # first: a body never exists without its key
        try:
            _write_new(path, body)
        except BaseException:
            key_path.unlink(missing_ok=True)
            raise

    def remove(self, name: str) -> None:
        path = self.path(name)
        path.unlink(missing_ok=True)
        path.with_name(name + KEY_SUFFIX).unlink(missing_ok=True)

    def read(self, name: str) -> bytes:
        path = self.path(name)
        body = path.read_bytes()
        if not envelope.is_encrypted(body):
            return body
        return envelope.decrypt(name, body, path.with_name(name + KEY_SUFFIX).read_bytes(), ring=keyring())

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def rewrap_all(self) -> Rewrapped:
        """Re-wrap every file's data key with its scope's current key (after a rotation): the files
        themselves are not read or rewritten, only their key files, each replaced atomically."""
        done = Rewrapped()
        root = self.root()
        if not root.is_dir():
            return done
        ring = keyring()
        for key_path in sorted(root.rglob(f"*{KEY_SUFFIX}")):
            name = key_path.name[: -len(KEY_SUFFIX)]
            new = envelope.rewrap(name, key_path.read_bytes(), ring=ring)
            if new is None:
                done.current += 1
                continue
            tmp = key_path.with_name(f".{key_path.name}.{uuid.uuid4().hex}.tmp")
            _write_new(tmp, new)
            os.replace(tmp, key_path)
            done.rewrapped += 1
        return done


def file_stores() -> dict[str, Path]:
    """The private file stores a backup carries (plumbing.backup), by the name they have in the archive."""
    from django.conf import settings

    cases = getattr(settings, "COMPLIANCE_CASE_STORAGE_DIR", None)
    return {
        "kyc-documents": Path(settings.KYC_STORAGE_DIR),
        "compliance-case-files": Path(cases) if cases else Path(settings.VAR_DIR) / "compliance-case-files",
    }

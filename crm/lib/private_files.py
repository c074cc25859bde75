"""Private file storage: a directory of its own, never under MEDIA_ROOT or anything a web server
serves. Files are named by a random uuid with an extension the caller checked, in a folder per first
two characters (the name a person gave a file is never part of a path); written with mode 0600,
synced, and never overwritten (O_EXCL). KYC documents and compliance case files are kept this way."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


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

    def write(self, name: str, data: bytes) -> None:
        path = self.path(name)
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

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

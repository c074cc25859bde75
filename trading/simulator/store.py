"""Persistent state of the simulator: a JSON snapshot plus an append-only JSON-lines deal log.

``state.json`` holds everything small (clock, market, accounts, positions, counters, random
generator state) and is replaced atomically (write to a temporary file, fsync, rename, fsync the
directory). ``deals.jsonl`` gets one line per deal event (add, edit, delete) and is only appended
to. The snapshot records how many bytes of the log it covers, so a crash between appending and
writing the snapshot is undone on the next load by cutting the log back to that length: the
state after a restart is always the last committed one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SNAPSHOT_NAME = "state.json"
LOG_NAME = "deals.jsonl"


class Store:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.snapshot_path = state_dir / SNAPSHOT_NAME
        self.log_path = state_dir / LOG_NAME

    def load(self) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The last committed snapshot and the deal log events it covers, or None when fresh."""
        if not self.snapshot_path.exists():
            return None
        snapshot = json.loads(self.snapshot_path.read_text(encoding="utf-8"))
        covered = int(snapshot.get("log_bytes", 0))
        events: list[dict[str, Any]] = []
        if self.log_path.exists():
            with open(self.log_path, "r+b") as fh:
                data = fh.read()
                if len(data) > covered:
                    fh.truncate(covered)
                    fh.flush()
                    os.fsync(fh.fileno())
                for line in data[:covered].splitlines():
                    if line.strip():
                        events.append(json.loads(line))
        return snapshot, events

    def commit(self, snapshot: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """Append ``events`` to the log, then atomically replace the snapshot (which records the
        new log length)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as fh:
            if events:
                fh.write(b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events))
                fh.flush()
                os.fsync(fh.fileno())
            snapshot["log_bytes"] = fh.tell()
        tmp = self.snapshot_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(snapshot, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.snapshot_path)
        dir_fd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

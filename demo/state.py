"""What the parts of the demo writer share: demo.writer._Writer sets it up, and its parts
(_ViaServices, _InBulk) read it."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class WriterState:
    now: datetime
    request_id: str
    users: dict[str, Any]
    brands: dict[str, Any]
    desks: dict[str, Any]

    def _staff(self, email: str | None) -> Any:
        return self.users[email] if email else None

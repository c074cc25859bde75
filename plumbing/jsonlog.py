"""JSON log lines carrying the request id, so one request can be followed across processes."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from plumbing import context

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "request_id", "actor"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = context.current()
        record.request_id = ctx.request_id
        user = ctx.user
        record.actor = getattr(user, "email", None) if getattr(user, "pk", None) else None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
            "actor": getattr(record, "actor", None),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)

"""The emails' reads other apps use."""

from __future__ import annotations

from emails.composer import client_emails

__all__ = ["client_emails"]

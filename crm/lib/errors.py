"""The base of the domain errors (crm.exceptions and every app's exceptions build on it).

Here, below the core, so that crm.lib's helpers (the state machines of crm.lib.states) raise the
same family the services do. Each error carries a stable `code` (for the API's `{"code",
"message", "fields"}` shape), a human `message` (already translated into the active language) and,
for bad input, `fields`: the names of the offending inputs with their messages. `status_code` is
the HTTP status a view or the API answers with. crm.exceptions re-exports both classes: import
them from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils.translation import gettext


class DomainError(Exception):
    default_code = "error"
    status_code = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: Mapping[str, Iterable[str] | str] | None = None,
    ) -> None:
        self.message = str(message) if message is not None else self.default_message()
        self.code = code or self.default_code
        self.fields: dict[str, list[str]] = {
            name: [str(msgs)] if isinstance(msgs, str) else [str(m) for m in msgs]
            for name, msgs in (fields or {}).items()
        }
        super().__init__(self.message)

    def default_message(self) -> str:
        return gettext("The request could not be completed.")

    def as_dict(self) -> dict[str, object]:
        """The API's error body."""
        return {"code": self.code, "message": self.message, "fields": self.fields}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, fields={self.fields!r})"


class Conflict(DomainError):
    """The request clashes with the current state (a duplicate, a concurrent change)."""

    default_code = "conflict"
    status_code = 409

    def default_message(self) -> str:
        return gettext("This conflicts with the current state; reload and try again.")

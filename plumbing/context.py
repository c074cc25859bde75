"""Who is acting, from where: set by middleware for requests and by `acting_as` in tasks.

The audit log, model history and domain events all read the actor from here, so that a
change made in a Celery task is attributed just as one made in a request is.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class ActorContext:
    user: Any = None  # crm.User or None for the system
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""
    source: str = "system"  # "web", "api", "task", "system", "shell"
    api_key_id: int | None = None
    api_key_prefix: str = ""  # shown in audit rows as "apikey:<prefix>" when a key acts without a user
    label: str = ""  # who the system acts for, shown in audit rows without a user ("automation:<rule>")


_current: ContextVar[ActorContext] = ContextVar("crm_actor", default=ActorContext())  # noqa: B039


def current() -> ActorContext:
    return _current.get()


def current_user() -> Any:
    return _current.get().user


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def acting(ctx: ActorContext) -> Iterator[ActorContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


@contextlib.contextmanager
def acting_as(user: Any, *, source: str = "task", request_id: str | None = None,
              label: str = "") -> Iterator[ActorContext]:
    """Attribute everything done inside the block to `user` (None: the system, named `label` if given)."""
    base = _current.get()
    ctx = replace(base, user=user, source=source, request_id=request_id or base.request_id or new_request_id(),
                  label=label)
    with acting(ctx):
        yield ctx


def history_user(**_: Any) -> Any:
    """get_user for django-simple-history: the actor of the current context."""
    user = _current.get().user
    return user if getattr(user, "pk", None) else None

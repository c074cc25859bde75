"""Hook points: where a lower app lets a higher one plug in a check without importing it.

The lower app owns the point and calls what is registered; the higher app registers in its
`AppConfig.ready` (compliance plugs its restrictions into the wallet's deposits and withdrawals and
into the leads' intake this way). Registering twice keeps one; the order is the order of
registration; calling iterates over a copy, so a check may unregister itself.

A `Registry` holds what apps contribute by key (crm.registry's navigation and tabs, the partitioned
tables of crm.lib.partitions, the KYC vendors, the payment providers): a second item under one key
replaces the first, read back sorted by each item's order."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any


class HookPoint[F: Callable[..., object]]:
    def __init__(self, name: str) -> None:
        self.name = name
        self._checks: list[F] = []

    def register(self, check: F) -> F:
        if check not in self._checks:
            self._checks.append(check)
        return check

    def unregister(self, check: F) -> None:
        if check in self._checks:
            self._checks.remove(check)

    def __iter__(self) -> Iterator[F]:
        return iter(list(self._checks))

    def __repr__(self) -> str:
        return f"HookPoint({self.name!r}, {len(self._checks)} registered)"


class Registry[T]:
    """Items apps contribute, keyed by `key(item)` and read back sorted by `order(item)`."""

    def __init__(self, name: str, *, key: Callable[[T], Hashable],
                 order: Callable[[T], Any] | None = None) -> None:
        self.name = name
        self._key = key
        self._order = order
        self._items: dict[Hashable, T] = {}
        self._sorted: list[T] = []

    def register(self, *items: T) -> None:
        for item in items:
            self._items[self._key(item)] = item
        self._resort()

    def unregister(self, key: Hashable) -> None:
        self._items.pop(key, None)
        self._resort()

    def _resort(self) -> None:
        values = list(self._items.values())
        self._sorted = sorted(values, key=self._order) if self._order is not None else values

    def get(self, key: Hashable) -> T | None:
        return self._items.get(key)

    def keys(self) -> list[Hashable]:
        return [self._key(item) for item in self._sorted]

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._sorted))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    @contextmanager
    def temporarily(self, *items: T) -> Iterator[None]:
        """Register `items` for the duration of a block (tests), restoring what they replaced."""
        saved = dict(self._items)
        self.register(*items)
        try:
            yield
        finally:
            self._items = saved
            self._resort()

    def __repr__(self) -> str:
        return f"<Registry {self.name}: {len(self)} items>"

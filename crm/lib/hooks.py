"""Hook points: where a lower app lets a higher one plug in a check without importing it.

The lower app owns the point and calls what is registered; the higher app registers in its
`AppConfig.ready` (compliance plugs its restrictions into the wallet's deposits and withdrawals and
into the leads' intake this way). Registering twice keeps one; the order is the order of
registration; calling iterates over a copy, so a check may unregister itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator


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

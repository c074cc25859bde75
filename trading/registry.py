"""From a PlatformServer row to a connected adapter (trading.adapters), one per server per process.

Adapters keep a logged-in session (the MT5 Web API's is bound to a kept-alive connection), so they
are cached per process and rebuilt when the server's connection settings change. A failing call
may leave a session in an unknown state: callers discard the adapter after a PlatformError
(``adapter_discard``) and the next call logs in afresh.

Tests and other platforms plug in with ``register_factory(kind, factory)``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from trading.adapters.base import PlatformAdapter, PlatformUnsupported
from trading.adapters.mt5_web import MT5WebAdapter, MT5WebConfig
from trading.crypto import decrypt
from trading.models import PlatformKind, PlatformServer

AdapterFactory = Callable[[PlatformServer], PlatformAdapter]

_factories: dict[str, AdapterFactory] = {}
_cache: dict[int, tuple[str, PlatformAdapter]] = {}
_lock = threading.Lock()


def _mt5_web(server: PlatformServer) -> PlatformAdapter:
    password = decrypt(server.manager_password_encrypted) if server.manager_password_encrypted else ""
    return MT5WebAdapter(MT5WebConfig(
        host=server.host,
        port=server.port,
        login=int(server.manager_login),
        password=password,
        ca_file=server.ca_file or None,
        verify_tls=server.verify_tls,
        timeout=float(server.timeout_seconds),
        connect_timeout=float(min(server.timeout_seconds, 5)),
        server_tz=server.server_tz,
        server_tz_offset_minutes=server.server_tz_offset_minutes,
        close_only_groups=dict(server.close_only_groups or {}),
    ))


def _mt5_terminal(server: PlatformServer) -> PlatformAdapter:
    from trading.adapters.mt5_terminal import MT5TerminalAdapter, MT5TerminalConfig

    password = decrypt(server.manager_password_encrypted) if server.manager_password_encrypted else ""
    return MT5TerminalAdapter(MT5TerminalConfig(
        login=int(server.manager_login), password=password, server=server.host, path=server.terminal_path,
        timeout_ms=int(server.timeout_seconds) * 1000, server_tz=server.server_tz,
        server_tz_offset_minutes=server.server_tz_offset_minutes,
    ))


def _ctrader(server: PlatformServer) -> PlatformAdapter:
    from trading.adapters.ctrader import CTraderAdapter, CTraderConfig

    password = decrypt(server.manager_password_encrypted) if server.manager_password_encrypted else ""
    return CTraderAdapter(CTraderConfig(
        host=server.host, port=server.port, login=int(server.manager_login), password=password,
        ca_file=server.ca_file or None, verify_tls=server.verify_tls, timeout=float(server.timeout_seconds),
        connect_timeout=float(min(server.timeout_seconds, 5)),
    ))


def _match_trader(server: PlatformServer) -> PlatformAdapter:
    """The Broker API key is kept where the other platforms keep the manager password."""
    from trading.adapters.matchtrader import MatchTraderAdapter, MatchTraderConfig

    api_key = decrypt(server.manager_password_encrypted) if server.manager_password_encrypted else ""
    return MatchTraderAdapter(MatchTraderConfig(
        host=server.host, port=server.port, api_key=api_key, ca_file=server.ca_file or None,
        verify_tls=server.verify_tls, timeout=float(server.timeout_seconds),
        connect_timeout=float(min(server.timeout_seconds, 5)),
    ))


def _sirix(server: PlatformServer) -> PlatformAdapter:
    """The bearer token is kept where the other platforms keep the manager password."""
    from trading.adapters.sirix import SirixAdapter, SirixConfig

    token = decrypt(server.manager_password_encrypted) if server.manager_password_encrypted else ""
    return SirixAdapter(SirixConfig(
        host=server.host, port=server.port, token=token, ca_file=server.ca_file or None,
        verify_tls=server.verify_tls, timeout=float(server.timeout_seconds),
        connect_timeout=float(min(server.timeout_seconds, 5)), server_tz=server.server_tz,
        server_tz_offset_minutes=server.server_tz_offset_minutes,
    ))


def _mt4_bridge(server: PlatformServer) -> PlatformAdapter:
    """The bridge's key id is kept as the manager login, its shared key as the manager password."""
    from trading.adapters.mt4_bridge import MT4BridgeAdapter, MT4BridgeConfig

    key = decrypt(server.manager_password_encrypted) if server.manager_password_encrypted else ""
    return MT4BridgeAdapter(MT4BridgeConfig(
        host=server.host, port=server.port, key_id=str(server.manager_login), key=key,
        ca_file=server.ca_file or None, verify_tls=server.verify_tls, timeout=float(server.timeout_seconds),
        connect_timeout=float(min(server.timeout_seconds, 5)),
    ))


def register_factory(kind: str, factory: AdapterFactory) -> AdapterFactory | None:
    """Use `factory` for servers of `kind` from now on (clears cached adapters); returns the old one."""
    with _lock:
        previous = _factories.get(kind)
        _factories[kind] = factory
    adapters_reset()
    return previous




def connection_fingerprint(server: PlatformServer) -> str:
    """Changes whenever something the adapter was built from changes."""
    parts: list[Any] = [
        server.kind, server.host, server.port, server.manager_login, server.manager_password_encrypted,
        server.ca_file, server.verify_tls, server.timeout_seconds, server.server_tz,
        server.server_tz_offset_minutes, server.terminal_path, sorted((server.close_only_groups or {}).items()),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def adapter_for(server: PlatformServer) -> PlatformAdapter:
    """This process's adapter for `server` (built on first use or after a settings change)."""
    fingerprint = connection_fingerprint(server)
    with _lock:
        cached = _cache.get(server.pk)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        factory = _factories.get(server.kind)
    if factory is None:
        raise PlatformUnsupported(f"no adapter for platform kind {server.kind!r}")
    adapter = factory(server)
    with _lock:
        old = _cache.get(server.pk)
        _cache[server.pk] = (fingerprint, adapter)
    if old is not None and old[1] is not adapter:
        _close_quietly(old[1])
    return adapter


def adapter_discard(server: PlatformServer | int) -> None:
    """Forget (and close) the cached adapter of a server, e.g. after a platform error."""
    pk = server if isinstance(server, int) else server.pk
    with _lock:
        cached = _cache.pop(pk, None)
    if cached is not None:
        _close_quietly(cached[1])


def adapters_reset() -> None:
    with _lock:
        cached = list(_cache.values())
        _cache.clear()
    for _fingerprint, adapter in cached:
        _close_quietly(adapter)


def _close_quietly(adapter: PlatformAdapter) -> None:
    from trading.adapters.base import PlatformError

    try:
        adapter.close()
    except (PlatformError, OSError):
        pass  # closing a broken session: nothing left to save


_factories.setdefault(PlatformKind.MT5_WEB, _mt5_web)
_factories.setdefault(PlatformKind.MT5_TERMINAL, _mt5_terminal)
_factories.setdefault(PlatformKind.CTRADER, _ctrader)
_factories.setdefault(PlatformKind.MATCH_TRADER, _match_trader)
_factories.setdefault(PlatformKind.SIRIX, _sirix)
_factories.setdefault(PlatformKind.MT4_BRIDGE, _mt4_bridge)

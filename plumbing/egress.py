"""POSTs to addresses that tenants type in (webhook subscribers, partners' postbacks): the URL checked
as the sender will read it, the host resolved at send time and every address it names checked, the
connection pinned to the address that was checked, and one deadline for the whole request.

A URL is accepted (`target_parse`, at save and again at send) when it parses to an https URL with
a host, a valid port, no credentials, no white space or control character, and a host that is
either a DNS name of letters, digits and hyphens (IDNA for other scripts) ending in a name, not a
number, and not a special-use name (`localhost`, `.local`, `.internal`, `.arpa`, a name without a
dot, ...), or an IPv4 address in its usual four decimal numbers, or a bracketed IPv6 address.
Every other numeric form (`2130706433`, `0x7f000001`, `127.1`, `0177.0.0.1`, `0`) is refused,
whatever address it would mean: no resolver is asked to read it.

At send time the name is resolved once (`resolver`, which tests replace) and every address of the
answer must be public (`address_public`: not loopback, private, link-local, shared, reserved,
multicast or unspecified, IPv4 inside IPv6 (mapped, 6to4, Teredo, NAT64) checked as the IPv4 it
carries). The socket is opened to that address, so a second resolution cannot send the request
elsewhere (DNS rebinding); the URL's host still names the server for TLS and `Host`.

The loopback allowance (`allow_loopback`, the test and DEBUG settings) lets plain http reach the
loopback address when the URL names it (`localhost`, `127.0.0.1`, `[::1]`): the CRM's own test
receivers. It never lets a name that resolves to loopback, nor any other form, through.

The deadline covers connecting, sending and the whole answer: a receiver that answers one byte at a
time is cut off when it runs out (a watchdog shuts the socket), not after a timeout per read.

What a failure shows (the delivery logs are read by the tenant who typed the URL, so they must not
tell a refused port from a closed one or a firewalled one): "refused by policy", "unreachable" or
"timed out". Standard library only.
"""

from __future__ import annotations

import heapq
import http.client
import ipaddress
import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

REFUSED = "refused by policy"
UNREACHABLE = "unreachable"
TIMED_OUT = "timed out"

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_URL = 500
# Names of private networks, never of a public server (RFC 6761's localhost, mDNS, RFC 8375, ICANN's
# .internal for private use and cloud metadata, the usual intranet suffixes). (The documentation
# names, .example and .test, resolve nowhere on the public DNS: the check at send time covers them.)
SPECIAL_SUFFIXES = ("localhost", "local", "localdomain", "internal", "intranet", "lan", "home", "corp",
                    "arpa", "onion", "alt")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DOTTED_QUAD = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|\d+)$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """The URL or the address it resolves to may not be reached; `problem` says why (a code:
    length, scheme, credentials, port, host, special_name, numeric_form, private, http)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case, IDNA (ASCII), no trailing dot; an IPv6 address without brackets
    port: int
    path: str  # the request target: path and query
    loopback: bool  # allowed to the loopback address (the allowance, and a loopback name)

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def target_parse(url: str, *, allow_loopback: bool = False) -> Target:
    """The URL as the sender reads it; raises Refused when it may not be sent to (before any DNS)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise Refused("length" if isinstance(url, str) and url else "host")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise Refused("host")
    try:
        parts = urlsplit(url)
        raw_host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a port out of range or not a number, a broken [IPv6] literal
        raise Refused("port") from None
    if parts.scheme not in ("https", "http") or not raw_host:
        raise Refused("scheme")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Refused("credentials")
    host = _host_clean(raw_host, bracketed=parts.netloc.rpartition("@")[2].startswith("["))
    loopback = allow_loopback and host in LOOPBACK_NAMES
    if parts.scheme == "http" and not loopback:
        raise Refused("http")
    if not loopback:
        address = _literal(host)
        if address is not None and not address_public(address):
            raise Refused("private")
        if address is None and _special(host):
            raise Refused("special_name")
    if port == 0:
        raise Refused("port")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not path.isascii():
        raise Refused("host")  # the request line is ASCII: such a path could never be sent
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path, loopback)


def _host_clean(raw: str, *, bracketed: bool) -> str:
    host = raw.lower()
    if bracketed:
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise Refused("host") from None
    if host.endswith("."):
        host = host[:-1]  # "localhost." is localhost
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise Refused("host") from None
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise Refused("host")
    if _NUMERIC_LABEL.match(labels[-1]):
        # A host ending in a number is an IPv4 address to URL parsers and to inet_aton: only the
        # usual four decimal numbers are taken, every other way of writing one is refused.
        if not _DOTTED_QUAD.match(host):
            raise Refused("numeric_form")
    return host


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _special(host: str) -> bool:
    labels = host.split(".")
    return len(labels) < 2 or labels[-1] in SPECIAL_SUFFIXES or ".".join(labels[-2:]) == "home.arpa"


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_public(address: IPAddress) -> bool:
    """Whether an address is one of the public Internet's (IPv4 inside IPv6 judged as itself)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_v4(address)
        if inner is not None:
            return address_public(inner)
    return bool(address.is_global and not (address.is_multicast or address.is_reserved or address.is_loopback
                                           or address.is_link_local or address.is_unspecified
                                           or address.is_private))


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# Replaced in tests by a stub (a function of host and port to a list of address strings).
resolver: Callable[[str, int], Sequence[str]] = _system_resolver


def addresses_for(target: Target) -> list[IPAddress]:
    """The addresses to connect to, each checked; raises Refused when any is not public (a name
    that also points inside is refused whole), OSError when the name does not resolve."""
    literal = _literal(target.host)
    found: list[IPAddress] = [literal] if literal is not None else []
    if literal is None:
        for text in resolver(target.host, target.port):
            try:
                address = ipaddress.ip_address(str(text).split("%", 1)[0])
            except ValueError:
                raise Refused("private") from None
            if address not in found:
                found.append(address)
    if not found:
        raise OSError("no address")
    for address in found:
        if not (address_public(address) or (target.loopback and address.is_loopback)):
            raise Refused("private")
    return found


# --- the deadline --------------------------------------------------------------------------------

@dataclass(order=True)
class _Watch:
    at: float
    seq: int
    sock: socket.socket | None = field(compare=False, default=None)
    fired: bool = field(compare=False, default=False)


class _Watchdog:
    """One thread per process that shuts sockets whose deadline has passed (a heap of deadlines;
    a finished request clears its entry's socket, and the thread drops it when its time comes)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[_Watch] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, at: float) -> _Watch:
        entry = _Watch(at, next(self._seq), sock)
        with self._cv:
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="egress-deadline", daemon=True)
                self._thread.start()
            if self._heap[0] is entry:
                self._cv.notify()
        return entry

    def done(self, entry: _Watch) -> bool:
        """Stop watching; whether the deadline had already cut the socket."""
        with self._cv:
            entry.sock = None
            return entry.fired

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._heap:
                    self._cv.wait()
                head = self._heap[0]
                if head.sock is None:
                    heapq.heappop(self._heap)
                    continue
                wait = head.at - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                heapq.heappop(self._heap)
                head.fired, sock, head.sock = True, head.sock, None
            try:
                # The plain socket's shutdown (an SSL socket's own would drop its state under the
                # reading thread): the blocked read returns at once.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


_watchdog = _Watchdog()


def _after_fork() -> None:
    global _watchdog
    _watchdog = _Watchdog()


os.register_at_fork(after_in_child=_after_fork)


# --- sending -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (see error)
    body: bytes  # the first bytes of the answer's body
    error: str  # "", REFUSED, UNREACHABLE or TIMED_OUT
    will_close: bool = True

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def socket_open(address: IPAddress, port: int, timeout: float) -> socket.socket:
    """A TCP connection to exactly this address (no name: nothing is resolved again)."""
    return socket.create_connection((str(address), port), timeout=timeout)


def _pinned_socket(address: IPAddress, port: int, deadline: float) -> socket.socket:
    sock = socket_open(address, port, max(deadline - time.monotonic(), 0.001))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, address: IPAddress, deadline: float) -> None:
        super().__init__(target.host, target.port, timeout=max(deadline - time.monotonic(), 0.001))
        self._address, self._deadline = address, deadline

    def connect(self) -> None:
        self.sock = _pinned_socket(self._address, self.port, self._deadline)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, address: IPAddress, deadline: float) -> None:
        super().__init__(target.host, target.port, timeout=max(deadline - time.monotonic(), 0.001))
        self._address, self._deadline = address, deadline

    def connect(self) -> None:
        sock = _pinned_socket(self._address, self.port, self._deadline)
        watch = _watchdog.watch(sock, self._deadline)  # a handshake answered byte by byte
        try:
            # The certificate must name the URL's host (SNI and its check), not the address.
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]  # HTTPSConnection's own context, private in typeshed
        except OSError:
            sock.close()
            if _watchdog.done(watch):
                raise TimeoutError from None
            raise
        if _watchdog.done(watch):
            self.sock.close()
            raise TimeoutError


Connection = _PinnedHTTPConnection | _PinnedHTTPSConnection


class Pool:
    """Kept-alive connections of one thread, by (scheme, host, port); each was opened to an address
    checked when it was opened."""

    def __init__(self) -> None:
        self.conns: dict[tuple[str, str, int], Connection] = {}

    def drop(self, target: Target) -> None:
        conn = self.conns.pop(target.key, None)
        if conn is not None:
            conn.close()


def _open(target: Target, deadline: float) -> Connection:
    addresses = addresses_for(target)
    last: OSError | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        conn = cls(target, address, deadline)
        try:
            conn.connect()
        except TimeoutError:
            raise
        except OSError as exc:
            conn.close()
            last = exc
            continue
        return conn
    raise last or OSError("unreachable")


def post(url: str | Target, *, body: bytes, headers: dict[str, str], seconds: float, allow_loopback: bool = False,
         pool: Pool | None = None, read_limit: int = 64 * 1024) -> Answer:
    """One POST within `seconds` in all (connect, send, the answer's headers and up to `read_limit`
    bytes of its body); never raises for what the other side does. With a `pool`, connections are
    kept alive and reused (once more on a fresh one when the server had closed an idle one)."""
    deadline = time.monotonic() + seconds
    try:
        target = url if isinstance(url, Target) else target_parse(url, allow_loopback=allow_loopback)
    except Refused:
        return Answer(None, b"", REFUSED)
    for _try in range(2):
        conn = pool.conns.get(target.key) if pool is not None else None
        reused = conn is not None and conn.sock is not None
        if conn is None or conn.sock is None:
            try:
                conn = _open(target, deadline)
            except Refused:
                return Answer(None, b"", REFUSED)
            except TimeoutError:
                return Answer(None, b"", TIMED_OUT)
            except (OSError, UnicodeError, ValueError, http.client.HTTPException):
                return Answer(None, b"", UNREACHABLE)
            if pool is not None:
                pool.conns[target.key] = conn
        assert conn.sock is not None
        conn.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        watch = _watchdog.watch(conn.sock, deadline)
        try:
            conn.request("POST", target.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read(read_limit)
            will_close = response.will_close or not response.isclosed()  # more than we read: not reusable
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            cut = _watchdog.done(watch)
            _forget(conn, pool, target)
            if cut:
                return Answer(None, b"", TIMED_OUT)
            if reused:
                continue  # the server closed an idle kept-alive connection: once more on a new one
            return Answer(None, b"", UNREACHABLE)
        except TimeoutError:
            _watchdog.done(watch)
            _forget(conn, pool, target)
            return Answer(None, b"", TIMED_OUT)
        except (OSError, http.client.HTTPException, ValueError):
            cut = _watchdog.done(watch)
            _forget(conn, pool, target)
            return Answer(None, b"", TIMED_OUT if cut else UNREACHABLE)
        if _watchdog.done(watch):
            _forget(conn, pool, target)  # the answer came whole, but the socket is shut
            will_close = True
        if will_close or pool is None:
            _forget(conn, pool, target)
        return Answer(response.status, data, "", will_close)
    return Answer(None, b"", UNREACHABLE)


def _forget(conn: Connection, pool: Pool | None, target: Target) -> None:
    if pool is not None and pool.conns.get(target.key) is conn:
        del pool.conns[target.key]
    conn.close()

"""A tiny IMAP4rev1 server on a real socket, for the support mailbox poller's tests (standard library
only, in the way of simkit's servers). It speaks the part of the protocol imaplib uses to read a
folder by UID: the greeting with its capabilities, LOGIN, SELECT/EXAMINE, UID SEARCH, UID FETCH of
RFC822.SIZE, BODY.PEEK[] and BODY.PEEK[HEADER], NOOP and LOGOUT. Anything else is answered BAD.

Faults a test sets on the server: ``refuse_login`` (NO to LOGIN), ``drop_after_fetches`` (the
connection closed after that many message fetches), ``stall`` (the greeting never comes: the
client's timeout is what ends the wait).

(pymap is the IMAP server on PyPI: an asyncio service with its own configuration and backends; a
test needs a folder of a few messages and the faults above, which this gives in a page.)
"""

from __future__ import annotations

import re
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Folder:
    messages: dict[int, bytes] = field(default_factory=dict)  # uid -> raw message
    uid_validity: int = 1

    def add(self, raw: bytes) -> int:
        uid = max(self.messages, default=0) + 1
        self.messages[uid] = raw
        return uid


@dataclass
class ServerState:
    username: str = "support@broker.example"
    password: str = "secret pass"  # noqa: S105 - a test server's
    folders: dict[str, Folder] = field(default_factory=lambda: {"INBOX": Folder()})
    refuse_login: bool = False
    drop_after_fetches: int | None = None
    stall: bool = False
    fetches: int = 0
    logins: int = 0
    commands: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_ATOM = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')


def _args(text: bytes) -> list[str]:
    return [(quoted.replace(b'\\"', b'"').replace(b"\\\\", b"\\") if quoted is not None and atom is None
             else atom or b"").decode() for quoted, atom in ((m.group(1), m.group(2)) for m in _ATOM.finditer(text))]


def _uid_set(spec: str, known: list[int]) -> list[int]:
    """The uids of `known` in an IMAP set ("3", "3:7", "4:*", "1,5:6")."""
    chosen: set[int] = set()
    top = max(known, default=0)
    for part in spec.split(","):
        low, _, high = part.partition(":")
        a = top if low == "*" else int(low)
        b = a if not high else (top if high == "*" else int(high))
        a, b = min(a, b), max(a, b)
        chosen.update(uid for uid in known if a <= uid <= b)
        if high == "*" and known and not any(a <= uid <= b for uid in known):
            chosen.add(top)  # RFC 3501: "n:*" always names the last message
    return sorted(chosen)


class _Handler(socketserver.StreamRequestHandler):
    server: ImapServer

    def send(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        state = self.server.state
        if state.stall:
            self.rfile.readline()  # wait for the client to give up
            return
        self.send(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] test IMAP ready")
        folder: Folder | None = None
        while True:
            line = self.rfile.readline()
            if not line:
                return
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            command, _, tail = rest.partition(b" ")
            name = command.upper().decode()
            with state.lock:
                state.commands.append(name)
            if name == "CAPABILITY":
                self.send(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN")
                self.send(tag + b" OK CAPABILITY completed")
            elif name == "LOGIN":
                user, password = (_args(tail) + ["", ""])[:2]
                with state.lock:
                    state.logins += 1
                if state.refuse_login or (user, password) != (state.username, state.password):
                    self.send(tag + b" NO [AUTHENTICATIONFAILED] Invalid credentials")
                else:
                    self.send(tag + b" OK LOGIN completed")
            elif name in {"SELECT", "EXAMINE"}:
                wanted = (_args(tail) or [""])[0]
                folder = state.folders.get(wanted)
                if folder is None:
                    self.send(tag + b" NO [NONEXISTENT] No such folder")
                    continue
                self.send(b"* %d EXISTS" % len(folder.messages))
                self.send(b"* OK [UIDVALIDITY %d] UIDs valid" % folder.uid_validity)
                self.send(tag + b" OK [READ-ONLY] done" if name == "EXAMINE" else tag + b" OK [READ-WRITE] done")
            elif name == "UID" and folder is not None:
                if not self.uid_command(tag, tail, folder):
                    return
            elif name == "NOOP":
                self.send(tag + b" OK NOOP completed")
            elif name == "LOGOUT":
                self.send(b"* BYE logging out")
                self.send(tag + b" OK LOGOUT completed")
                return
            else:
                self.send(tag + b" BAD unknown or out-of-state command")

    def uid_command(self, tag: bytes, tail: bytes, folder: Folder) -> bool:
        """One UID SEARCH or UID FETCH; False when the connection was dropped (a fault)."""
        state = self.server.state
        sub, _, spec = tail.partition(b" ")
        uids = sorted(folder.messages)
        if sub.upper() == b"SEARCH":
            words = _args(spec)
            found = _uid_set(words[1], uids) if len(words) >= 2 and words[0].upper() == "UID" else uids
            self.send(b"* SEARCH" + b"".join(b" %d" % uid for uid in found))
            self.send(tag + b" OK SEARCH completed")
            return True
        if sub.upper() != b"FETCH":
            self.send(tag + b" BAD unknown UID command")
            return True
        uid_spec, _, items = spec.partition(b" ")
        items = items.upper()
        for uid in _uid_set(uid_spec.decode(), uids):
            seq = uids.index(uid) + 1
            raw = folder.messages[uid]
            if b"RFC822.SIZE" in items:
                self.send(b"* %d FETCH (UID %d RFC822.SIZE %d)" % (seq, uid, len(raw)))
                continue
            with state.lock:
                state.fetches += 1
                dropped = state.drop_after_fetches is not None and state.fetches > state.drop_after_fetches
            if dropped:
                return False
            if b"BODY.PEEK[HEADER]" in items:
                head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                self.wfile.write(b"* %d FETCH (UID %d BODY[HEADER] {%d}\r\n" % (seq, uid, len(head)) + head + b")\r\n")
            else:
                self.wfile.write(b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (seq, uid, len(raw)) + raw + b")\r\n")
        self.send(tag + b" OK FETCH completed")
        return True


class ImapServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: ServerState | None = None) -> None:
        self.state = state or ServerState()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> ImapServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)

"""Envelope encryption of private files (KYC documents, case files) with per-brand keys.

Each file is encrypted with a data key of its own (AES-256-GCM, the file's storage name bound in as
associated data, so a file cannot be swapped for another). The data key is kept beside the file,
wrapped (encrypted) with the key-encryption key of the file's scope (the brand's code, or
"default"), in a small `<name>.key` file. Rotating a brand's key re-wraps those small files and
never touches the documents themselves: `manage.py encryption_rotate`.

The key-encryption keys never live in the database: CRM_ENCRYPTION_KEY_FILE names a JSON file, or
CRM_ENCRYPTION_KEYS holds the JSON itself (the settings of the same names, which crm.lib.keyring reads
and hands to each call here as the ring):

    {"default": {"current": "2026-11", "keys": {"2026-11": "<32 bytes, base64>"}},
     "atlas":   {"current": "2027-01", "keys": {"2026-11": "...", "2027-01": "..."}}}

A scope without an entry uses "default". Old keys stay in `keys` until a rotation has re-wrapped
everything they wrapped. `make run` and the tests make a key file under var/ on first use.

The same ring holds the keys of encrypted database columns (crm.lib.fieldcrypt: the "default"
scope's keys) and, under the scope "#search" (no brand code can start with "#"), the keys of the
keyed hashes that find an email, phone or document number without storing it in clear.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CRMENC1\n"
NONCE = 12
DEFAULT_SCOPE = "default"
SEARCH_SCOPE = "#search"


class KeyError_(Exception):  # noqa: N801 - not the builtin
    """No usable key, or a key that does not open what it should; the message names which."""


@dataclass(frozen=True)
class ScopeKeys:
    current: str
    keys: dict[str, bytes]


def parse_keyring(text: str, *, source: str) -> dict[str, ScopeKeys]:
    """The key ring from its JSON; KeyError_ naming what is wrong."""
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise KeyError_(f"{source} is not valid JSON: {error}") from error
    if not isinstance(raw, dict) or DEFAULT_SCOPE not in raw:
        raise KeyError_(f'{source} must be a JSON object with a "{DEFAULT_SCOPE}" entry')
    ring: dict[str, ScopeKeys] = {}
    for scope, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("keys"), dict) or entry.get("current") not in (
                entry.get("keys") or {}):
            raise KeyError_(f'{source}: scope "{scope}" needs "keys" and a "current" that is one of them')
        keys: dict[str, bytes] = {}
        for kid, value in entry["keys"].items():
            try:
                key = base64.b64decode(value, validate=True)
            except (binascii.Error, TypeError) as error:
                raise KeyError_(f'{source}: key "{kid}" of "{scope}" is not base64') from error
            if len(key) != 32:
                raise KeyError_(f'{source}: key "{kid}" of "{scope}" is {len(key)} bytes; it must be 32')
            keys[str(kid)] = key
        ring[str(scope)] = ScopeKeys(current=str(entry["current"]), keys=keys)
    return ring


def new_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


_parsed: dict[tuple[Any, ...], dict[str, ScopeKeys]] = {}


def _parse_cached(identity: tuple[Any, ...], read: Any, source: str) -> dict[str, ScopeKeys]:
    # Encrypted columns open a value per row: the ring is parsed once per version of its text or file.
    ring = _parsed.get(identity)
    if ring is None:
        ring = parse_keyring(read(), source=source)
        if len(_parsed) > 8:
            _parsed.clear()
        _parsed[identity] = ring
    return ring


def load_keyring(*, text: str, path: str) -> dict[str, ScopeKeys]:
    """The key ring from its JSON `text` (CRM_ENCRYPTION_KEYS) or else the key file at `path`
    (CRM_ENCRYPTION_KEY_FILE), the file looked up at each call by its modification time and size so
    that a rotation's new key file is picked up without a restart."""
    if text:
        return _parse_cached(("env", text), lambda: text, "CRM_ENCRYPTION_KEYS")
    if not path:
        raise KeyError_("no encryption keys: set CRM_ENCRYPTION_KEY_FILE (a JSON key file) or CRM_ENCRYPTION_KEYS")
    try:
        stat = os.stat(path)
        return _parse_cached(("file", str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino),
                             lambda: Path(path).read_text(), str(path))
    except OSError as error:
        raise KeyError_(f"cannot read the key file {path}: {error.strerror}") from error


def ensure_key_file(path: Path) -> None:
    """A key file with a new default key and a new search-hash key, made once (mode 0600) when missing,
    for `make run` and tests; a file made before the search-hash key existed gets one added."""
    if path.exists():
        ring = json.loads(path.read_text())
        if not isinstance(ring, dict) or SEARCH_SCOPE in ring:
            return
        ring[SEARCH_SCOPE] = {"current": "h1", "keys": {"h1": new_key()}}
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(ring, indent=2))
        os.replace(partial, path)
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = json.dumps({DEFAULT_SCOPE: {"current": "k1", "keys": {"k1": new_key()}},
                       SEARCH_SCOPE: {"current": "h1", "keys": {"h1": new_key()}}}, indent=2)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (a parallel test worker) made it first
        return
    with os.fdopen(fd, "w") as out:
        out.write(body)


def _scope_keys(ring: dict[str, ScopeKeys], scope: str) -> tuple[str, ScopeKeys]:
    if scope in ring:
        return scope, ring[scope]
    return DEFAULT_SCOPE, ring[DEFAULT_SCOPE]


def _wrap(kek: bytes, dek: bytes, aad: bytes) -> str:
    nonce = os.urandom(NONCE)
    return base64.b64encode(nonce + AESGCM(kek).encrypt(nonce, dek, aad)).decode()


def _unwrap(kek: bytes, wrapped: str, aad: bytes) -> bytes:
    blob = base64.b64decode(wrapped)
    return AESGCM(kek).decrypt(blob[:NONCE], blob[NONCE:], aad)


def encrypt(name: str, data: bytes, *, scope: str, ring: dict[str, ScopeKeys]) -> tuple[bytes, bytes]:
    """(the file's encrypted bytes, its key file's bytes) for `data` stored as `name` in `scope`."""
    used, keys = _scope_keys(ring, scope or DEFAULT_SCOPE)
    dek = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE)
    body = MAGIC + nonce + AESGCM(dek).encrypt(nonce, data, name.encode())
    sidecar = {"v": 1, "scope": used, "kid": keys.current,
               "wrapped": _wrap(keys.keys[keys.current], dek, f"{name}|{used}".encode())}
    return body, json.dumps(sidecar).encode()


def is_encrypted(body: bytes) -> bool:
    return body.startswith(MAGIC)


def decrypt(name: str, body: bytes, sidecar: bytes, *, ring: dict[str, ScopeKeys]) -> bytes:
    """The plain bytes of an encrypted file; KeyError_ when its key is gone or it was tampered with."""
    meta: dict[str, Any] = json.loads(sidecar)
    scope, kid = str(meta["scope"]), str(meta["kid"])
    keys = ring.get(scope)
    if keys is None or kid not in keys.keys:
        raise KeyError_(f'the key "{kid}" of "{scope}" that wrapped {name} is not in the key ring')
    try:
        dek = _unwrap(keys.keys[kid], meta["wrapped"], f"{name}|{scope}".encode())
        payload = body[len(MAGIC):]
        return AESGCM(dek).decrypt(payload[:NONCE], payload[NONCE:], name.encode())
    except InvalidTag as error:
        raise KeyError_(f"{name} does not open with its key: the file or its key file was changed") from error


def rewrap(name: str, sidecar: bytes, *, ring: dict[str, ScopeKeys]) -> bytes | None:
    """The key file re-wrapped with its scope's current key; None when it already is."""
    meta: dict[str, Any] = json.loads(sidecar)
    scope, kid = str(meta["scope"]), str(meta["kid"])
    keys = ring.get(scope) or ring[DEFAULT_SCOPE]
    if kid == keys.current:
        return None
    old = ring.get(scope)
    if old is None or kid not in old.keys:
        raise KeyError_(f'the key "{kid}" of "{scope}" that wrapped {name} is not in the key ring')
    dek = _unwrap(old.keys[kid], meta["wrapped"], f"{name}|{scope}".encode())
    meta.update(kid=keys.current, wrapped=_wrap(keys.keys[keys.current], dek, f"{name}|{scope}".encode()))
    return json.dumps(meta).encode()

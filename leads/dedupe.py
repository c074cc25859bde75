"""Who is this lead? Contact keys (normalised email, E.164 phone) identify a person within a brand.

Races: two submissions of the same person may arrive at the same moment in two processes. Before
looking anything up, `keys_lock` takes a transaction-scoped PostgreSQL advisory lock per key, in
one global order (sorted), so the second submission waits until the first has committed its client
and keys and then finds them. The UNIQUE constraint on ContactKey stays the source of truth: even
a writer that skipped the locks could not give two clients one key.

Normalisation is deliberately simple: email trimmed and lower-cased (no Gmail dot or "+tag"
folding: those are different addresses to every other system), phone in E.164.

A key is stored as its keyed hash (crm.lib.fieldcrypt.keyed_hash, under the key ring's current search
key), never in clear, and the clients' own contact details are encrypted in their columns: a lookup
hashes each wanted key under every search key (keys stored before a change of key are still found)
and matches the clients' keyed hashes through the core's published view. The keys in memory (`Key`)
are the normalised values; only what is written or looked up is hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.db import connection

from crm.lib.fieldcrypt import keyed_hash, keyed_hashes
from crm.models import Client
from leads.models import ContactKey, ContactKind

Key = tuple[str, str]  # (kind, value)


def contact_keys(*, email: str = "", phone: str = "") -> list[Key]:
    """The keys of already-normalised contact details (email first: it wins when both match)."""
    keys: list[Key] = []
    if email:
        keys.append((ContactKind.EMAIL, email.strip().lower()))
    if phone:
        keys.append((ContactKind.PHONE, phone.strip()))
    return keys


def stored_value(key: Key) -> str:
    """What ContactKey.value holds for `key`: its keyed hash under the current search key."""
    return keyed_hash(key[1], kind=key[0])


def _lock_id(brand_id: int, kind: str, stored: str) -> int:
    digest = hashlib.blake2b(f"lead:{brand_id}:{kind}:{stored}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def keys_lock(brand_id: int, keys: Iterable[Key]) -> None:
    """Hold an advisory lock on each key until the end of the current transaction.

    Locks are taken in ascending id order so that batches and single submissions never deadlock
    on each other.
    """
    stored_keys_lock(brand_id, [(k, stored_value((k, v))) for k, v in keys])


def stored_keys_lock(brand_id: int, stored: Iterable[tuple[str, str]]) -> None:
    """keys_lock for keys as stored ((kind, hash) of ContactKey rows): the same locks."""
    ids = sorted({_lock_id(brand_id, kind, value) for kind, value in stored})
    if not ids:
        return
    with connection.cursor() as cursor:
        # unnest keeps the array's order: the locks are taken one by one, lowest id first.
        cursor.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [ids])


def keys_find(brand_id: int, keys: Iterable[Key], *, backfill: bool = True) -> dict[Key, int]:
    """Client ids of the keys that already belong to someone: ContactKey first, then clients
    created without keys (by staff, by the API's client endpoint). Those get their keys written
    now (unless `backfill` is off: read-only callers such as an import's preview), so the next
    lookup is a single index probe. One round trip."""
    wanted = set(keys)
    if not wanted:
        return {}
    by_hash, emails, phones = _lookup_params(wanted)
    # leads_contact_keys_find (migrations leads 0009, 0013 and 0015): an index probe per hash, in
    # ContactKey's unique (brand, kind, value) index and, through the core's published clients
    # (crm.selectors.CLIENTS_VIEW), the client table's (email_hash, brand) and (phone_hash, brand)
    # indexes, however many keys and however big the brand.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM leads_contact_keys_find(%s, %s::text[], %s::text[])",
                       [brand_id, emails, phones])
        rows = cursor.fetchall()
    return _found(brand_id, by_hash, rows, backfill=backfill)


def keys_lock_and_find(brand_id: int, keys: Iterable[Key]) -> dict[Key, int]:
    """keys_lock, then keys_find (backfilling), in one round trip. The lookup is a probe per key
    (migration leads 0009), so the function's cached plan suits one lead's keys and a batch's
    thousands alike."""
    wanted = set(keys)
    if not wanted:
        return {}
    by_hash, emails, phones = _lookup_params(wanted)
    ids = sorted({_lock_id(brand_id, k, stored_value((k, v))) for k, v in wanted})
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM leads_contact_keys_lock_and_find(%s::bigint[], %s, %s::text[], %s::text[])",
                       [ids, brand_id, emails, phones])
        rows = cursor.fetchall()
    return _found(brand_id, by_hash, rows, backfill=True)


def _lookup_params(wanted: set[Key]) -> tuple[dict[tuple[str, str], Key], list[str], list[str]]:
    """(each (kind, hash) looked up -> its key, email hashes, phone hashes): every key hashed under
    every search key; each lookup names the key's kind, so that every probe of ContactKey is an
    equality on its whole unique (brand, kind, value) index."""
    by_hash = {(kind, h): (kind, value) for kind, value in wanted for h in keyed_hashes(value, kind=kind)}
    emails = sorted(h for kind, h in by_hash if kind == ContactKind.EMAIL)
    phones = sorted(h for kind, h in by_hash if kind == ContactKind.PHONE)
    return by_hash, emails, phones


def _found(brand_id: int, by_hash: dict[tuple[str, str], Key], rows: list[tuple[Any, ...]], *,
           backfill: bool) -> dict[Key, int]:
    found: dict[Key, int] = {}
    for source, kind, value, client_id, _created in rows:
        key = by_hash.get((kind, value))
        if source == 0 and key is not None:
            found[key] = client_id
    legacy = sorted((r for r in rows if r[0] == 1), key=lambda r: (r[4], r[3]))
    missing: list[ContactKey] = []
    for _source, kind, value, client_id, _created in legacy:
        key = by_hash.get((kind, value))
        if key is not None and key not in found:
            found[key] = client_id
            missing.append(ContactKey(brand_id=brand_id, kind=kind, value=stored_value(key), client_id=client_id))
    if missing and backfill:
        ContactKey.objects.bulk_create(missing, ignore_conflicts=True)
    return found


def keys_add(brand_id: int, client_id: int, keys: Iterable[Key]) -> None:
    """Give `keys` to the client; a key somebody already holds stays theirs."""
    rows = [ContactKey(brand_id=brand_id, kind=k, value=stored_value((k, v)), client_id=client_id) for k, v in keys]
    if rows:
        ContactKey.objects.bulk_create(rows, ignore_conflicts=True)


def contact_keys_sync(client: Client) -> None:
    """Write the keys of the client's current email and phone (those nobody else holds).

    Takes the same advisory locks as intake, so a lead arriving meanwhile sees either no key and
    waits, or the key.
    """
    keys = contact_keys(email=client.email, phone=client.phone)
    keys_lock(client.brand_id, keys)
    keys_add(client.brand_id, client.pk, keys)

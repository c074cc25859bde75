"""Personal data encrypted in its database column, and keyed hashes to find it again.

`EncryptedTextField` and `EncryptedJSONField` store each value as ``enc1:<key id>:<base64>``: AES-256-GCM
(authenticated: a changed byte does not open) under the current key of the key ring's "default"
scope (plumbing/envelope.py: keys from the environment or a key file, never from the database), with
the column's name bound in as associated data, so a value copied into another column does not open
there. The key id travels with the value: after a new key is made current, values under the old key
still open, new writes use the new one, and `manage.py encryption_rotate` re-encrypts the rows (then the
old key may leave the ring). The empty string and NULL are stored as they are.

An encrypted column cannot be searched. What must be found by an exact value (a client by email or
phone, another client's identity document by its number, the portal login by its email, clients at one
address of residence) gets a `KeyedHashField` beside it: HMAC-SHA256 of the normalised value (email
trimmed and lower-cased, phone in E.164, a document number in upper-case letters and digits, an address
line lower-cased without spaces, commas, dots or hyphens, a payment instrument as "<kind>:<number>" with
the number compacted and any IBAN in its electronic form: plumbing.search_keys) under the "#search"
scope's current key, hex. A lookup hashes the
wanted value under every key of that scope (`keyed_hashes`), so rows hashed before a key change are
still found until the rotation has hashed them again.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.apps import apps
from django.core import checks, exceptions
from django.db import connection, models, transaction
from psycopg import sql

from crm.lib.keyring import keyring
from plumbing import envelope
from plumbing.envelope import DEFAULT_SCOPE, SEARCH_SCOPE, KeyError_
from plumbing.search_keys import NORMALISERS

PREFIX = "enc1:"


# --- values ------------------------------------------------------------------------------------------

def _column_keys() -> envelope.ScopeKeys:
    return keyring()[DEFAULT_SCOPE]


def _search_keys() -> envelope.ScopeKeys:
    ring = keyring()
    if SEARCH_SCOPE not in ring:
        raise KeyError_(f'the key ring has no "{SEARCH_SCOPE}" entry: the keys of the keyed hashes that find '
                        "clients by email and phone (add one with a current key, 32 bytes base64)")
    return ring[SEARCH_SCOPE]


def encrypt_text(plaintext: str, *, purpose: str) -> str:
    """`plaintext` encrypted under the current column key, bound to `purpose` (the column's name)."""
    keys = _column_keys()
    nonce = os.urandom(envelope.NONCE)
    sealed = AESGCM(keys.keys[keys.current]).encrypt(nonce, plaintext.encode(), purpose.encode())
    return f"{PREFIX}{keys.current}:{base64.b64encode(nonce + sealed).decode()}"


def text_encrypter(*, purpose: str) -> Callable[[str], str]:
    """encrypt_text for many values of one column (a bulk writer's): the key looked up once; "" stays ""."""
    keys = _column_keys()
    aes, aad, head = AESGCM(keys.keys[keys.current]), purpose.encode(), f"{PREFIX}{keys.current}:"

    def encrypt(plaintext: str) -> str:
        if not plaintext:
            return plaintext
        nonce = os.urandom(envelope.NONCE)
        return head + base64.b64encode(nonce + aes.encrypt(nonce, plaintext.encode(), aad)).decode()

    return encrypt


def _split(token: str, *, purpose: str) -> tuple[str, bytes]:
    if not token.startswith(PREFIX):
        raise KeyError_(f'a value of "{purpose}" is stored in clear or damaged: it does not start with "{PREFIX}"')
    kid, _, blob = token[len(PREFIX):].rpartition(":")
    try:
        return kid, base64.b64decode(blob, validate=True)
    except binascii.Error as error:
        raise KeyError_(f'a value of "{purpose}" is damaged: its ciphertext is not base64') from error


def decrypt_text(token: str, *, purpose: str) -> str:
    """The plaintext of a stored value; KeyError_ when its key left the ring or the value was changed."""
    kid, blob = _split(token, purpose=purpose)
    keys = _column_keys()
    if kid not in keys.keys:
        raise KeyError_(f'a value of "{purpose}" was encrypted with the key "{kid}", which is not in the key ring')
    try:
        return AESGCM(keys.keys[kid]).decrypt(blob[:envelope.NONCE], blob[envelope.NONCE:], purpose.encode()).decode()
    except InvalidTag as error:
        raise KeyError_(f'a value of "{purpose}" does not open with its key: it was changed or moved') from error


def is_current(token: str) -> bool:
    """Whether a stored value is under the current column key (nothing for a rotation to do)."""
    return not token.startswith(PREFIX) or token[len(PREFIX):].rpartition(":")[0] == _column_keys().current


def _hmac(key: bytes, kind: str, value: str) -> str:
    # The kind is bound in: an email and a phone with the same text hash differently.
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()


def keyed_hash(value: Any, *, kind: str) -> str:
    """HMAC-SHA256 (hex) of the normalised `value` under the current search key; "" for a blank value."""
    normal = NORMALISERS[kind](value)
    if not normal:
        return ""
    keys = _search_keys()
    return _hmac(keys.keys[keys.current], kind, normal)


def hasher(*, kind: str) -> Callable[[Any], str]:
    """keyed_hash for many values of one kind (a bulk writer's): the key looked up once."""
    normalise, keys = NORMALISERS[kind], _search_keys()
    base = hmac.new(keys.keys[keys.current], f"{kind}\x00".encode(), hashlib.sha256)

    def hashed(value: Any) -> str:
        normal = normalise(value)
        if not normal:
            return ""
        mac = base.copy()
        mac.update(normal.encode())
        return mac.hexdigest()

    return hashed


def keyed_hashes(value: Any, *, kind: str) -> list[str]:
    """The hashes of `value` under every search key, the current one first: what a lookup matches, so
    that rows hashed before a key change are found until they are hashed again; [] for a blank value."""
    normal = NORMALISERS[kind](value)
    if not normal:
        return []
    keys = _search_keys()
    order = [keys.current, *(kid for kid in keys.keys if kid != keys.current)]
    return [_hmac(keys.keys[kid], kind, normal) for kid in order]


def keys_problems() -> list[str]:
    """What is missing from the key configuration for encrypted columns and keyed hashes ([] when all is
    there): the startup check's findings."""
    try:
        _column_keys()
        _search_keys()
    except KeyError_ as error:
        return [str(error)]
    return []


@checks.register(checks.Tags.security, deploy=False)
def check_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Startup check: without its keys the CRM could neither read nor write clients' personal data."""
    return [checks.Critical(f"Encrypted personal data cannot be read or written: {problem}.",
                            hint="Set CRM_ENCRYPTION_KEY_FILE (a JSON key file) or CRM_ENCRYPTION_KEYS; see "
                                 "plumbing/envelope.py for its form.", id="crm.E100")
            for problem in keys_problems()]


# --- fields -----------------------------------------------------------------------------------------

# The plugin of django-stubs fills these in per column (nullable or not), as for Django's own fields.
_ST = TypeVar("_ST", contravariant=True)
_GT = TypeVar("_GT", covariant=True)


class EncryptedTextField(models.TextField[_ST, _GT]):
    """Text stored encrypted (see the module's docstring). It can be read and written, never searched:
    give it a KeyedHashField to find rows by its value."""

    description = "Text encrypted at rest"

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            raise TypeError(f'"{self.name}" is encrypted and cannot be searched with "{lookup_name}": '
                            "search its keyed hash column instead")
        return super().get_lookup(lookup_name)

    def _encode(self, value: Any) -> str:
        return str(value)

    def _decode(self, plaintext: str) -> Any:
        return plaintext

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return self._decode(decrypt_text(value, purpose=self.name))

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        return value

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        text = self._encode(value)
        if text == "":
            return ""
        return encrypt_text(text, purpose=self.name)


class EncryptedJSONField(EncryptedTextField[_ST, _GT]):
    """A JSON value (what models.JSONField holds) stored encrypted as one text; NULL stays NULL."""

    description = "JSON encrypted at rest"
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def _encode(self, value: Any) -> str:
        def refuse(item: Any) -> Any:
            raise TypeError(f'cannot write {type(item).__name__} into "{self.name}": JSON holds text, numbers, '
                            "true/false, null, lists and objects")

        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=refuse)

    def _decode(self, plaintext: str) -> Any:
        return json.loads(plaintext)

    def value_to_string(self, obj: Any) -> str:
        return json.dumps(self.value_from_object(obj))

    def formfield(self, **kwargs: Any) -> Any:  # not edited in forms: structured data written by services
        return None


class EncryptedDateField(EncryptedTextField[_ST, _GT]):
    """A date (what models.DateField holds) stored encrypted as its ISO text; NULL stays NULL. It
    cannot be compared, sorted or searched in SQL: what reads it does so in Python."""

    description = "Date encrypted at rest"
    # What django-stubs types the attribute as (a date), as for models.DateField.
    _pyi_private_set_type: str | datetime.date | models.expressions.Combinable  # type: ignore[assignment]  # django-stubs' hook, as DateField's
    _pyi_private_get_type: datetime.date  # type: ignore[assignment]  # django-stubs' hook, as DateField's

    def _encode(self, value: Any) -> str:
        value = self.to_python(value)
        return value.isoformat() if value is not None else ""

    def _decode(self, plaintext: str) -> Any:
        return datetime.date.fromisoformat(plaintext)

    def to_python(self, value: Any) -> Any:
        if value is None or value == "" or isinstance(value, datetime.date):
            return value.date() if isinstance(value, datetime.datetime) else (value or None)
        try:
            return datetime.date.fromisoformat(str(value))
        except ValueError as error:
            raise exceptions.ValidationError(f'"{value}" is not a date (YYYY-MM-DD)', code="invalid") from error

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None or value == "":
            return None
        return super().get_db_prep_value(value, connection, prepared)

    def value_to_string(self, obj: Any) -> str:
        value: Any = self.value_from_object(obj)
        return value.isoformat() if value else ""

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        return models.Field.formfield(self, **{"form_class": forms.DateField, **kwargs})


class KeyedHashField(models.CharField[_ST, _GT]):
    """The keyed hash (see keyed_hash) of another field's value, kept up to date on every save and bulk
    create. A save with update_fields must name it beside its source: the model's save does that."""

    description = "Keyed hash of another field"

    def __init__(self, *args: Any, source: str = "", kind: str = "", **kwargs: Any) -> None:
        if kind and kind not in NORMALISERS:
            raise ValueError(f'unknown keyed hash kind "{kind}"; one of {", ".join(NORMALISERS)}')
        self.source, self.kind = source, kind
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.update(source=self.source, kind=self.kind)
        for key, default in (("max_length", 64), ("blank", True), ("editable", False), ("default", "")):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = keyed_hash(getattr(model_instance, self.source), kind=self.kind)
        setattr(model_instance, self.attname, value)
        return value


def update_fields_with_hashes(model: type[models.Model], update_fields: Iterable[str] | None) -> list[str] | None:
    """`update_fields` with the hash columns of the sources it names added (for a model's save)."""
    if update_fields is None:
        return None
    names = list(update_fields)
    for field in model._meta.concrete_fields:
        if isinstance(field, KeyedHashField) and field.source in names and field.name not in names:
            names.append(field.name)
    return names


# --- rotation ---------------------------------------------------------------------------------------

@dataclass
class Rotated:
    """What a rotation did to one model: values re-encrypted, hashes recomputed, rows looked at."""

    model: str
    reencrypted: int = 0
    rehashed: int = 0
    rows: int = 0


def _reencrypted(field: EncryptedTextField[Any, Any], token: str | None) -> str | None:
    """The value under the current key, or None when it already is (or is blank)."""
    if not token or is_current(token):
        return None
    return encrypt_text(decrypt_text(token, purpose=field.name), purpose=field.name)


def rotate_model(model: type[models.Model], *, batch: int = 500) -> Rotated:
    """Every row of `model` with its encrypted values under the current column key and its keyed hashes
    under the current search key; rows already so are not written. Batch by batch, each in its own
    transaction (a stop half-way leaves every row readable: old keys still open old values)."""
    encrypted = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
    hashed = [f for f in model._meta.concrete_fields if isinstance(f, KeyedHashField)]
    sources = [cast("models.Field[Any, Any]", model._meta.get_field(f.source)) for f in hashed]
    done = Rotated(model=model._meta.label)
    if not encrypted and not hashed:
        return done
    table, key = sql.Identifier(model._meta.db_table), sql.Identifier(str(model._meta.pk.column))
    selected = sql.SQL(", ").join(sql.Identifier(str(f.column)) for f in [*encrypted, *sources, *hashed])
    # The next batch in key order (the first: from the start), its rows locked while rewritten.
    select = sql.SQL("SELECT {key}, {selected} FROM {table} WHERE %(first)s OR {key} > %(after)s "
                     "ORDER BY {key} LIMIT %(batch)s FOR UPDATE").format(key=key, selected=selected, table=table)
    last: Any = None
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(select.as_string(None), {"first": last is None, "after": last, "batch": batch})
            rows = cursor.fetchall()
            for pk, *values in rows:
                done.rows += 1
                changes: dict[str, Any] = {}
                for i, column in enumerate(encrypted):
                    fresh = _reencrypted(column, values[i])
                    if fresh is not None:
                        changes[str(column.column)] = fresh
                        done.reencrypted += 1
                for i, (hash_field, source) in enumerate(zip(hashed, sources, strict=True)):
                    plain = values[len(encrypted) + i]
                    if isinstance(source, EncryptedTextField) and plain:
                        plain = decrypt_text(plain, purpose=source.name)
                    wanted = keyed_hash(plain, kind=hash_field.kind)
                    if values[len(encrypted) + len(sources) + i] != wanted:
                        changes[str(hash_field.column)] = wanted
                        done.rehashed += 1
                if changes:
                    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(column))
                                                     for column in changes)
                    update = sql.SQL("UPDATE {table} SET {assignments} WHERE {key} = %s").format(
                        table=table, assignments=assignments, key=key)
                    cursor.execute(update.as_string(None), [*changes.values(), pk])
        if len(rows) < batch:
            return done
        last = rows[-1][0]


def encrypt_in_place(table: str, columns: Iterable[str], *, key: str = "id", decrypt: bool = False,
                     batch: int = 2000) -> int:
    """For a migration that makes plain columns encrypted (or back): every value of `columns` (each
    one's name is its purpose, as for the fields) in `table` encrypted under the current column key,
    or with `decrypt` opened again; blank values and values already so are left. Batch by batch
    in key order, one UPDATE per batch. Returns the rows written."""
    names = list(columns)
    table_q, key_q = sql.Identifier(table), sql.Identifier(key)
    columns_q = [sql.Identifier(c) for c in names]
    select = sql.SQL("SELECT {key}, {columns} FROM {table} WHERE %(first)s OR {key} > %(after)s "
                     "ORDER BY {key} LIMIT %(batch)s").format(key=key_q, columns=sql.SQL(", ").join(columns_q),
                                                              table=table_q)
    # One batch's new values, one array per column, matched to their rows by key.
    update = sql.SQL("UPDATE {table} t SET {assignments} FROM unnest({arrays}) AS v(pk, {columns}) "
                     "WHERE t.{key} = v.pk").format(
        table=table_q, key=key_q, columns=sql.SQL(", ").join(columns_q),
        assignments=sql.SQL(", ").join(sql.SQL("{} = v.{}").format(c, c) for c in columns_q),
        arrays=sql.SQL(", ").join([sql.SQL("%s"), *[sql.SQL("%s::text[]")] * len(names)]))
    written, last = 0, None
    with connection.cursor() as cursor:
        while True:
            cursor.execute(select.as_string(None), {"first": last is None, "after": last, "batch": batch})
            rows = cursor.fetchall()
            changed: list[list[Any]] = []
            for pk, *values in rows:
                fresh = []
                for column, value in zip(names, values, strict=True):
                    if value in (None, "") or str(value).startswith(PREFIX) != decrypt:
                        fresh.append(value)
                    elif decrypt:
                        fresh.append(decrypt_text(str(value), purpose=column))
                    else:
                        fresh.append(encrypt_text(str(value), purpose=column))
                if fresh != values:
                    changed.append([pk, *fresh])
            if changed:
                cursor.execute(update.as_string(None),
                               [[r[0] for r in changed], *([r[i + 1] for r in changed] for i in range(len(names)))])
                written += len(changed)
            if len(rows) < batch:
                return written
            last = rows[-1][0]


def rotate_all() -> list[Rotated]:
    """rotate_model for every installed model with an encrypted or keyed-hash column."""
    return [rotate_model(model) for model in apps.get_models()
            if any(isinstance(f, (EncryptedTextField, KeyedHashField)) for f in model._meta.concrete_fields)]

"""A withdrawal's destination (the card token, IBAN or e-wallet id the provider pays to) is encrypted in
its column (crm.lib.fieldcrypt). Its fingerprint becomes the key ring's keyed hash of the destination
(kind "instrument": the number compacted and upper-cased, any IBAN as "iban"), kept up to date by the
field itself, and the payment instruments' fingerprints of deposits are made by the same function
(wallet.instruments) instead of an HMAC under a key derived from SECRET_KEY. The published
wallet_public_payout_destinations shows that keyed hash as its destination_key instead of an MD5 of
the destination as typed: same columns, and two clients paying out to one IBAN written with other
spaces or case now have one key.

Forward: the column becomes text, every destination is encrypted under the key ring's current column
key and its fingerprint hashed under the current search key (keys come from the environment or the key
file, never from the database). A deposit keeps only its instrument's fingerprint, never the number, so
its fingerprint cannot be computed again: deposits whose instrument is a withdrawal's destination get
the new fingerprint now (the old one is computed from that destination); the others keep the old one
until the instrument is next seen (wallet.deposits.refingerprint_deposits). Withdrawals have no history
table. Backward: every destination is decrypted back and the fingerprints made the old way again
(deposits from a withdrawal's destination too; a deposit from another instrument fingerprinted after
this migration keeps the key ring's fingerprint)."""

import hashlib
import hmac
import json
import re

from django.conf import settings
from django.db import connection, migrations

import crm.lib.fieldcrypt
from crm.lib.fieldcrypt import encrypt_in_place, keyed_hash, rotate_model
from plumbing.iban import iban_normalise

OLD_VIEW = """
CREATE VIEW wallet_public_payout_destinations AS
SELECT id AS withdrawal_id, code AS withdrawal_code, client_id, md5(destination::text) AS destination_key,
       destination_masked, requested_at
FROM wallet_withdrawal
WHERE destination <> '{}'::jsonb;
"""

NEW_VIEW = """
CREATE VIEW wallet_public_payout_destinations AS
SELECT id AS withdrawal_id, code AS withdrawal_code, client_id, destination_fingerprint::text AS destination_key,
       destination_masked, requested_at
FROM wallet_withdrawal
WHERE destination_fingerprint <> '';
"""


def _legacy(method: str, destination: dict) -> str:
    """The fingerprint of before (wallet.instruments of wallet 0020 to 0022): an HMAC under a key derived
    from SECRET_KEY, an IBAN under "iban", anything else under the withdrawal's method."""
    value = str(next(iter(destination.values()), "")) if destination else ""
    iban = iban_normalise(value)
    kind, cleaned = ("iban", iban) if iban else (method, re.sub(r"[\s-]", "", value).upper())
    if not cleaned:
        return ""
    key = hashlib.sha256(b"wallet.instrument.v1" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, f"{kind}:{cleaned}".encode(), hashlib.sha256).hexdigest()


def _destinations() -> list[tuple[int, str, dict, str]]:
    """(id, method, destination, fingerprint) of every withdrawal, its destination in clear."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, method, destination::text, destination_fingerprint FROM wallet_withdrawal ORDER BY id")
        return [(pk, method, json.loads(text or "{}"), fingerprint) for pk, method, text, fingerprint in cursor.fetchall()]


def _deposits_follow(pairs: dict[str, str]) -> None:
    """Deposits' fingerprints changed from each key of `pairs` to its value."""
    pairs = {old: new for old, new in pairs.items() if old and new and old != new}
    if pairs:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE wallet_deposit d SET instrument_fingerprint = v.new "
                           "FROM unnest(%s::text[], %s::text[]) AS v(old, new) WHERE d.instrument_fingerprint = v.old",
                           [list(pairs), list(pairs.values())])


def encrypt_existing(apps, schema_editor):
    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked now, so that no trigger events stay
    # pending (PostgreSQL refuses to alter a table that has some).
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    pairs = {}
    for _pk, method, destination, _fingerprint in _destinations():
        if destination:
            pairs[_legacy(method, destination)] = keyed_hash(destination, kind="instrument")
    _deposits_follow(pairs)
    encrypt_in_place("wallet_withdrawal", ["destination"])
    rotate_model(apps.get_model("wallet", "Withdrawal"))  # the destinations' keyed hashes


def decrypt_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    encrypt_in_place("wallet_withdrawal", ["destination"], decrypt=True)
    pairs, rows = {}, []
    for pk, method, destination, fingerprint in _destinations():
        legacy = _legacy(method, destination)
        pairs[fingerprint] = legacy
        rows.append((pk, legacy))
    _deposits_follow(pairs)
    if rows:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE wallet_withdrawal w SET destination_fingerprint = v.fp "
                           "FROM unnest(%s::bigint[], %s::text[]) AS v(pk, fp) WHERE w.id = v.pk",
                           [[pk for pk, _ in rows], [fp for _, fp in rows]])


class Migration(migrations.Migration):
    dependencies = [("wallet", "0022_ledger_legs_partitioned_by_month")]

    operations = [
        # The view reads the column retyped below: dropped and made again around it.
        migrations.RunSQL("DROP VIEW wallet_public_payout_destinations;", OLD_VIEW),
        migrations.AlterField(
            model_name="withdrawal", name="destination",
            field=crm.lib.fieldcrypt.EncryptedJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name="withdrawal", name="destination_fingerprint",
            field=crm.lib.fieldcrypt.KeyedHashField(kind="instrument", source="destination"),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.RunSQL(NEW_VIEW, "DROP VIEW wallet_public_payout_destinations;"),
    ]

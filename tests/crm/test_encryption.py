"""Private files at rest: encrypted with a data key of their own wrapped by their brand's key (never
the plain bytes on disk), read back whole; a key rotation re-wraps only the small key files and
leaves every document's bytes as they were, after which the old key can go; a changed file or a
missing key is refused by name; a bad key ring is named at its fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from crm.lib.keyring import keyring
from crm.lib.private_files import KEY_SUFFIX, PrivateStore
from plumbing import envelope
from plumbing.envelope import KeyError_, new_key, parse_keyring

PLAIN = b"%PDF-1.4 passport of Omar Saleh, P1234567\n" * 20


@pytest.fixture
def ring(settings, tmp_path):
    keys = {"default": {"current": "d1", "keys": {"d1": new_key()}},
            "atlas": {"current": "a1", "keys": {"a1": new_key()}}}
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(keys))
    settings.CRM_ENCRYPTION_KEYS = ""
    settings.CRM_ENCRYPTION_KEY_FILE = str(path)
    settings.CRM_ENCRYPT_FILES = True
    settings.KYC_STORAGE_DIR = tmp_path / "kyc"
    settings.COMPLIANCE_CASE_STORAGE_DIR = tmp_path / "cases"
    return path


def _store(settings) -> PrivateStore:
    return PrivateStore(lambda: Path(settings.KYC_STORAGE_DIR))


def test_files_are_encrypted_with_their_brands_key_and_read_back_whole(ring, settings):
    store = _store(settings)
    name = store.new_name("pdf")
    store.write(name, PLAIN, scope="atlas")
    on_disk = store.path(name).read_bytes()
    assert on_disk.startswith(envelope.MAGIC) and b"Omar Saleh" not in on_disk
    meta = json.loads(store.path(name).with_name(name + KEY_SUFFIX).read_text())
    assert (meta["scope"], meta["kid"]) == ("atlas", "a1")
    assert store.read(name) == PLAIN
    # A brand without keys of its own uses the default ones.
    other = store.new_name("pdf")
    store.write(other, PLAIN, scope="nova")
    assert json.loads(store.path(other).with_name(other + KEY_SUFFIX).read_text())["scope"] == "default"
    assert store.read(other) == PLAIN


def test_a_rotation_rewraps_only_the_key_files_and_the_old_key_can_go(ring, settings):
    store = _store(settings)
    name = store.new_name("pdf")
    store.write(name, PLAIN, scope="atlas")
    body_before = store.path(name).read_bytes()
    keys = json.loads(ring.read_text())
    keys["atlas"] = {"current": "a2", "keys": {**keys["atlas"]["keys"], "a2": new_key()}}
    ring.write_text(json.dumps(keys))

    call_command("encryption_rotate")
    assert store.path(name).read_bytes() == body_before  # the document itself was not rewritten
    assert json.loads(store.path(name).with_name(name + KEY_SUFFIX).read_text())["kid"] == "a2"
    del keys["atlas"]["keys"]["a1"]
    ring.write_text(json.dumps(keys))
    assert store.read(name) == PLAIN
    call_command("encryption_rotate")  # nothing left to do


def test_a_missing_key_or_a_changed_file_is_refused_by_name(ring, settings):
    store = _store(settings)
    name = store.new_name("pdf")
    store.write(name, PLAIN, scope="atlas")
    keys = json.loads(ring.read_text())
    keys["atlas"] = {"current": "a9", "keys": {"a9": new_key()}}  # a1 dropped before any rotation
    ring.write_text(json.dumps(keys))
    with pytest.raises(KeyError_, match='key "a1" of "atlas"'):
        store.read(name)
    ring.write_text(json.dumps({"default": keys["default"]}))  # atlas gone entirely
    with pytest.raises(KeyError_, match="not in the key ring"):
        store.read(name)


def test_a_tampered_file_does_not_open(ring, settings):
    store = _store(settings)
    name = store.new_name("pdf")
    store.write(name, PLAIN, scope="atlas")
    path = store.path(name)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    with pytest.raises(KeyError_, match="does not open with its key"):
        store.read(name)


def test_a_file_stored_before_encryption_is_read_as_it_is(ring, settings):
    settings.CRM_ENCRYPT_FILES = False
    store = _store(settings)
    name = store.new_name("pdf")
    store.write(name, PLAIN)
    settings.CRM_ENCRYPT_FILES = True
    assert store.path(name).read_bytes() == PLAIN and store.read(name) == PLAIN


@pytest.mark.parametrize(("text", "fault"), [
    ("not json", "not valid JSON"),
    ('{"atlas": {"current": "a", "keys": {"a": "AAAA"}}}', '"default" entry'),
    ('{"default": {"current": "x", "keys": {"a": "AAAA"}}}', '"current" that is one of them'),
    ('{"default": {"current": "a", "keys": {"a": "%%%"}}}', "not base64"),
    ('{"default": {"current": "a", "keys": {"a": "AAAA"}}}', "it must be 32"),
])
def test_a_bad_key_ring_is_named_at_its_fault(text, fault):
    with pytest.raises(KeyError_, match=fault):
        parse_keyring(text, source="keys.json")


def test_no_key_ring_at_all_is_named(settings):
    settings.CRM_ENCRYPTION_KEYS = ""
    settings.CRM_ENCRYPTION_KEY_FILE = ""
    with pytest.raises(KeyError_, match="set CRM_ENCRYPTION_KEY_FILE"):
        keyring()

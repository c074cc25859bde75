"""The trading tables' own rules (named constraints) and credentials encrypted at rest."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import IntegrityError, transaction

from crm.exceptions import ValidationFailed
from tests.factories import make_brand, make_client, make_user
from trading import crypto
from trading.exceptions import CredentialsUnreadable
from trading.models import BalanceOperation, PlatformServer, TradingAccount
from trading.services import platform_server_save

TYPES = {"standard": {"group": "real\\standard", "leverages": [100, 500]}}


def _server(brand, name="MT5 live", **extra) -> PlatformServer:
    values = {"brand": brand, "name": name, "kind": "mt5_web", "host": "mt5.example.com", "port": 443,
              "manager_login": 1000, "account_types": TYPES, **extra}
    return platform_server_save(actor=None, manager_password="Manager-Secret-1", **values)


def _account(server, client, login) -> TradingAccount:
    # The raw table is what these tests are about: rows written directly.
    return TradingAccount.objects.create(server=server, client=client, login=login, group="real\\standard",
                                         leverage=100)


@pytest.mark.django_db
def test_a_login_is_unique_per_server_but_not_across_servers():
    brand = make_brand()
    client = make_client(brand=brand)
    first, second = _server(brand), _server(brand, name="MT5 demo")
    _account(first, client, 100001)
    _account(second, client, 100001)
    with pytest.raises(IntegrityError, match="tradingaccount_unique_login_per_server"), transaction.atomic():
        _account(first, client, 100001)


@pytest.mark.django_db
def test_margin_call_levels_need_hysteresis():
    brand = make_brand()
    with pytest.raises(ValidationFailed) as refused:
        _server(brand, margin_call_enter_level=100, margin_call_leave_level=100)
    assert "margin_call_leave_level" in refused.value.fields
    server = _server(brand)
    with pytest.raises(IntegrityError, match="platformserver_margin_call_hysteresis"), transaction.atomic():
        PlatformServer.objects.filter(pk=server.pk).update(margin_call_leave_level=90)


@pytest.mark.django_db
def test_an_applied_balance_operation_has_a_ticket_and_a_ticket_settles_one_operation():
    brand = make_brand()
    account = _account(_server(brand), make_client(brand=brand), 100001)
    values = {"account": account, "kind": "balance", "amount": 10, "currency": "USD", "comment": "CRM X"}
    with pytest.raises(IntegrityError, match="balanceop_applied_has_ticket"), transaction.atomic():
        BalanceOperation.objects.create(reference="A1", state="applied", **values)
    with pytest.raises(IntegrityError, match="balanceop_amount_nonzero"), transaction.atomic():
        BalanceOperation.objects.create(reference="A2", **{**values, "amount": 0})
    BalanceOperation.objects.create(reference="A3", state="applied", platform_ticket=77, **values)
    with pytest.raises(IntegrityError, match="balanceop_unique_ticket_per_account"), transaction.atomic():
        BalanceOperation.objects.create(reference="A4", state="applied", platform_ticket=77, **values)
    with pytest.raises(IntegrityError, match="balanceop_unique_reference"), transaction.atomic():
        BalanceOperation.objects.create(reference="A3", **values)


@pytest.mark.django_db
def test_the_manager_password_is_stored_encrypted_and_never_in_history_or_audit():
    from crm.models import AuditLog

    admin = make_user(role_code="admin")
    server = platform_server_save(actor=admin, manager_password="Manager-Secret-1", brand=make_brand(),
                                  name="MT5", kind="mt5_web", host="h", port=443, manager_login=1,
                                  account_types=TYPES)
    stored = PlatformServer.objects.values_list("manager_password_encrypted", flat=True).get(pk=server.pk)
    assert "Manager-Secret-1" not in stored
    assert crypto.decrypt(stored) == "Manager-Secret-1"
    audit = AuditLog.objects.get(action="trading.server_create", object_id=str(server.code))
    assert "Manager-Secret" not in str(audit.after) and audit.after["manager_password_changed"] is True
    assert not hasattr(server.history.model, "manager_password_encrypted")
    assert server.history.get().history_user == admin
    # Saving without a password keeps the stored one.
    platform_server_save(actor=admin, server=server, port=8443)
    server.refresh_from_db()
    assert crypto.decrypt(server.manager_password_encrypted) == "Manager-Secret-1"


@pytest.mark.django_db
def test_a_new_server_needs_a_password_and_known_groups_for_close_only():
    brand = make_brand()
    with pytest.raises(ValidationFailed) as refused:
        platform_server_save(actor=None, brand=brand, name="x", kind="mt5_web", host="h", port=443,
                             manager_login=1, account_types=TYPES, close_only_groups={"real\\pro": "real\\pro-co"})
    assert {"manager_password", "close_only_groups"} <= set(refused.value.fields)
    with pytest.raises(ValidationFailed) as refused:
        _server(brand, account_types={"standard": {"group": "", "leverages": []}})
    assert "account_types" in refused.value.fields


def test_credentials_survive_a_key_rotation(settings):
    settings.FIELD_ENCRYPTION_KEY = []
    under_secret_key = crypto.encrypt("pw-1")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [new_key]  # the new key encrypts; SECRET_KEY's still decrypts
    assert crypto.decrypt(under_secret_key) == "pw-1"
    assert not crypto.is_current(under_secret_key)
    rotated = crypto.rotate(under_secret_key)
    assert crypto.is_current(rotated)
    settings.SECRET_KEY = "another-secret-key-after-rotation-0123456789"
    assert crypto.decrypt(rotated) == "pw-1"  # only the new key is needed now
    with pytest.raises(CredentialsUnreadable):
        crypto.decrypt(under_secret_key)


def test_a_secret_key_rotation_keeps_credentials_readable_through_the_fallbacks(settings):
    settings.FIELD_ENCRYPTION_KEY = []
    token = crypto.encrypt("pw-2")
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-for-this-installation-42"
    settings.SECRET_KEY_FALLBACKS = [old]
    assert crypto.decrypt(token) == "pw-2"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(CredentialsUnreadable):
        crypto.decrypt(token)


def test_a_passphrase_can_serve_as_the_encryption_key(settings):
    settings.FIELD_ENCRYPTION_KEY = ["not a fernet key, a passphrase"]
    token = crypto.encrypt("pw-3")
    settings.SECRET_KEY = "unrelated-secret-key-0123456789-0123456789"
    assert crypto.decrypt(token) == "pw-3"

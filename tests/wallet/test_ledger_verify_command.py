"""`manage.py ledger_verify`: a sound ledger passes; one rewritten behind the database's triggers
(what only the tables' owner can do) fails, naming the broken invariant and the transaction."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.management import call_command

from crm.lib import dbroles
from tests.factories import make_client
from tests.wallet.ledger_support import deposit, usd
from wallet.ledger import ledger_reverse, wallet_account_for
from wallet.models import LedgerLeg


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ledger_verify", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@contextmanager
def _as_owner() -> Iterator[Any]:
    """A cursor of the ledger tables' owner on its own connection, committing each statement."""
    owner = dbroles.connect_as_owner()
    owner.autocommit = True
    try:
        with owner.cursor() as cursor:
            yield cursor
    finally:
        owner.close()


@pytest.mark.django_db
def test_ledger_verify_passes_a_sound_ledger():
    wallet = wallet_account_for(client=make_client(), currency="USD")
    first = deposit(wallet, usd("1234.56"))
    deposit(wallet, usd(10))
    ledger_reverse(transaction=first, key="rev-1", reason="sent twice")
    assert _run() == (0, "ledger ok: every invariant holds\n", "")
    code, out, _ = _run("--json")
    assert code == 0 and json.loads(out) == {"ok": True, "problems": []}


@pytest.mark.django_db(transaction=True)
def test_ledger_verify_names_a_transaction_whose_leg_was_rewritten_behind_the_triggers():
    wallet = wallet_account_for(client=make_client(), currency="USD")
    deposit(wallet, usd(50))
    tampered = deposit(wallet, usd(100))
    leg = LedgerLeg.objects.get(transaction=tampered, account=wallet)
    with _as_owner() as cursor:
        cursor.execute("ALTER TABLE wallet_ledgerleg DISABLE TRIGGER USER")
        try:
            cursor.execute("UPDATE wallet_ledgerleg SET amount = %s WHERE id = %s", ["1000.00", leg.pk])
        finally:
            cursor.execute("ALTER TABLE wallet_ledgerleg ENABLE TRIGGER USER")

    code, out, err = _run()
    assert code == 1 and out == ""
    assert err.startswith(f"ledger BROKEN: unbalanced_transactions: transaction {tampered.code} (id {tampered.pk}")
    assert "balances_not_sum_of_legs" in err  # the wallet's balance no longer matches its legs either

    code, out, _ = _run("--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert report["problems"][0]["problem"] == "unbalanced_transactions"
    assert [row["transaction"] for row in report["problems"][0]["rows"]] == [str(tampered.code)]


@pytest.mark.django_db(transaction=True)
def test_ledger_verify_names_an_immutability_trigger_left_switched_off():
    deposit(wallet_account_for(client=make_client(), currency="USD"), usd(5))
    with _as_owner() as cursor:
        cursor.execute("ALTER TABLE wallet_ledgertransaction DISABLE TRIGGER wallet_ledgertransaction_immutable")
        try:
            code, _, err = _run()
        finally:
            cursor.execute("ALTER TABLE wallet_ledgertransaction ENABLE TRIGGER wallet_ledgertransaction_immutable")
    assert code == 1
    assert err == "ledger BROKEN: ledger_triggers_missing_or_disabled: trigger wallet_ledgertransaction_immutable\n"
    assert _run()[0] == 0

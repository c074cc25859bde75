"""Ledger legs partitioned by month (wallet migration 0022): a posting lands in its month's
partition and makes a missing month itself; the ledger's guarantees hold on every partition."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from psycopg import sql

from tests.factories import make_client
from tests.wallet.ledger_support import deposit, usd
from wallet.ledger import balance, balance_as_of, ledger_reverse, ledger_verify, wallet_account_for
from wallet.models import LedgerLeg

pytestmark = pytest.mark.django_db

UTC = dt.UTC
REFUSED = "immutable|permission denied"


def _partitions_of_legs(tx) -> set[str]:  # noqa: ANN001
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT tableoid::regclass::text FROM wallet_ledgerleg WHERE transaction_id = %s", [tx.pk])
        return {row[0] for row in cur.fetchall()}


def _partition_exists(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(cur.fetchone()[0])


@pytest.fixture
def wallet():
    return wallet_account_for(client=make_client(), currency="USD")


def _post_at(moment: dt.datetime, wallet, amount: str):  # noqa: ANN001, ANN202
    with time_machine.travel(moment, tick=False):
        return deposit(wallet, usd(amount))


def test_postings_of_two_months_land_in_their_months_and_balances_span_them(wallet):
    january = _post_at(dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC), wallet, "100")
    february = _post_at(dt.datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC), wallet, "50")
    assert _partitions_of_legs(january) == {"wallet_ledgerleg_p202601"}
    assert _partitions_of_legs(february) == {"wallet_ledgerleg_p202602"}
    assert balance(wallet) == usd("150")
    assert balance_as_of(wallet, dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)) == usd("100")
    assert ledger_verify() == {}


def test_a_posting_in_a_month_without_its_partition_makes_it(wallet):
    assert not _partition_exists("wallet_ledgerleg_p201903")
    tx = _post_at(dt.datetime(2019, 3, 4, 10, 0, tzinfo=UTC), wallet, "25")
    assert _partitions_of_legs(tx) == {"wallet_ledgerleg_p201903"}
    assert balance(wallet) == usd("25")


def test_legs_cannot_be_updated_or_deleted_in_any_months_partition(wallet):
    txs = [_post_at(dt.datetime(2026, month, 10, tzinfo=UTC), wallet, "10") for month in (4, 5)]
    for tx in txs:
        (partition,) = _partitions_of_legs(tx)
        leg = LedgerLeg.objects.filter(transaction=tx).first()
        table = sql.Identifier(partition)
        for statement in (sql.SQL("UPDATE {} SET amount = amount * 2 WHERE id = %s").format(table),
                          sql.SQL("DELETE FROM {} WHERE id = %s").format(table),
                          sql.SQL("UPDATE wallet_ledgerleg SET recorded_at = recorded_at + interval '1 month' "
                                  "WHERE id = %s")):
            with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cur:
                cur.execute(statement.as_string(None), [leg.pk])
        assert LedgerLeg.objects.get(pk=leg.pk).amount == leg.amount


def test_every_partition_carries_the_ledgers_triggers():
    with connection.cursor() as cur:
        cur.execute("SELECT crm_month_partitions_ensure('wallet_ledgerleg'::regclass, '2030-01-01', '2030-01-01')")
        cur.execute("SELECT i.inhrelid::regclass::text, array_agg(t.tgname::text ORDER BY t.tgname) "
                    "FROM pg_inherits i JOIN pg_trigger t ON t.tgrelid = i.inhrelid AND NOT t.tgisinternal "
                    "WHERE i.inhparent = 'wallet_ledgerleg'::regclass GROUP BY 1")
        found = dict(cur.fetchall())
    assert "wallet_ledgerleg_p203001" in found
    assert set(map(tuple, found.values())) == {("wallet_ledgerleg_balanced", "wallet_ledgerleg_immutable")}


def test_a_leg_at_another_time_than_its_transaction_is_refused(wallet):
    tx = _post_at(dt.datetime(2026, 6, 10, tzinfo=UTC), wallet, "10")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        # Balanced, but a month off its transaction: the checks at commit would not find it there.
        cur.execute("INSERT INTO wallet_ledgerleg (transaction_id, account_id, currency, amount, recorded_at) "
                    "VALUES (%s, %s, 'USD', 5, %s), (%s, %s, 'USD', -5, %s)",
                    [tx.pk, wallet.pk, tx.recorded_at + dt.timedelta(days=31)] * 2)


def test_an_unbalanced_leg_added_to_an_old_months_transaction_is_refused_at_commit(wallet):
    tx = _post_at(dt.datetime(2025, 11, 3, tzinfo=UTC), wallet, "10")
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic(), \
            connection.cursor() as cur:
        cur.execute("INSERT INTO wallet_ledgerleg (transaction_id, account_id, currency, amount, recorded_at) "
                    "VALUES (%s, %s, 'USD', 7, %s)", [tx.pk, wallet.pk, tx.recorded_at])
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_ledger_verify_passes_across_months_with_a_reversal_in_a_later_month(wallet):
    first = _post_at(dt.datetime(2025, 12, 30, tzinfo=UTC), wallet, "80")
    with time_machine.travel(dt.datetime(2026, 1, 2, tzinfo=UTC), tick=False):
        ledger_reverse(transaction=first, key="rev-partitions", reason="sent twice")
    _post_at(dt.datetime(2026, 2, 2, tzinfo=UTC), wallet, "5")
    assert balance(wallet) == usd("5")
    assert LedgerLeg.objects.filter(account=wallet).count() == 3
    assert sum(LedgerLeg.objects.filter(account=wallet).values_list("amount", flat=True)) == Decimal(5)
    out = io.StringIO()
    call_command("ledger_verify", stdout=out)
    assert out.getvalue() == "ledger ok: every invariant holds\n"

"""Row locks, and the one order in which every transaction of the CRM takes them.

PostgreSQL ends a cycle of transactions waiting on each other's locks with "deadlock detected":
one of them is rolled back (a web request answers 500, a task retries). A cycle needs two
transactions that take the same rows in opposite orders, so every writer takes its row locks in
this order, skipping the steps it does not need:

1. A brand's configuration, only in configuration changes and per-brand housekeeping: the brand's
   row as the mutex of a per-brand sequence (a commission run's number, the playbook's seeding),
   its policies (KYC, withdrawals, trading), a payment provider or method, a pipeline status. No
   transaction about one client locks any of these (the client's own work would queue behind
   every other client's, and a brand or provider row locked FOR UPDATE stops every insert that
   refers to it).
2. The client's row: ``client_lock`` (two clients: ascending id, as a merge takes them). Taken
   first by whatever changes what the client is or may do: its details, stage, owner,
   classification and verification (crm.services), a KYC status change or decision (kyc.services:
   the client before the submission and the profile), a withdrawal request (wallet.withdrawals:
   checked against the verification as the last KYC change left it), the opening of a live
   account (portal.services), a partner attribution (ib.services).
3. The client's own rows in the app at work, a parent before its children: the portal login
   (alone: a sign-in locks nothing else); a KYC submission, then the profile; a deposit, then its
   refund (wallet.deposits); a withdrawal (wallet.withdrawals); a transfer; a trading account,
   then its balance operation; an attribution, then its conflict; a partner, then its payout.
4. The ledger: balance rows in ascending account id, in one statement, then the hold a posting
   captures or releases (wallet.ledger takes these itself).
5. Nothing after the ledger. Audit rows are appended without a lock and chained after commit
   (crm.audit); events are inserts delivered after commit (crm.events); queue sweeps take their
   rows with SKIP LOCKED in transactions of their own.

Two rules keep a lock to the rows it names:

- A query that joins (``select_related``, or a filter across a relation) locks with
  ``select_for_update(of=("self",))``: FOR UPDATE without OF also locks every joined row (the
  client, its brand, the provider), which puts steps 1 and 2 in the middle of step 3.
- A row locked to serialise work under it (the client, a brand's sequence) is locked FOR NO KEY
  UPDATE (``no_key=True``): inserting a row that refers to it (an event, a deposit, a hold) takes
  a KEY SHARE lock on it, which that does not block but FOR UPDATE would.

tests/crm/test_lock_order.py runs the shapes that meet on one client at once: a KYC change, a
withdrawal request and a portal login.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet

from crm.models import Client


def client_lock_queryset() -> QuerySet[Client]:
    """Clients locked as step 2 of the order: FOR NO KEY UPDATE of the client's row alone."""
    return Client.objects.select_for_update(of=("self",), no_key=True)


def client_lock(client: Client | int | Any, *, related: Sequence[str] = ()) -> Client:
    """Lock the client's row (step 2 of the order; the caller's transaction holds it until commit)
    and return it as committed, with `related` loaded (not locked). `client`: a Client or its id."""
    pk = client if isinstance(client, int) else client.pk
    queryset = client_lock_queryset()
    if related:
        queryset = queryset.select_related(*related)
    return queryset.get(pk=pk)


__all__ = ["client_lock", "client_lock_queryset"]

"""Compliance's SQL files (compliance/sql/, plumbing.sqlfiles) each run here, and the AML rules' queries
read the big tables through their indexes.

The rules run over every movement of a brand (the periodic pass) and over one client's (on its deposit
or withdrawal): on a brokerage's ledger a rule that reads a big table whole turns a pass of seconds into
one of hours. Each rule's statement, as the evaluation and the dry run send it, is EXPLAINed with
sequential scans made the planner's last resort (on a test's few rows it may rightly prefer them): a big
table still read whole (a Seq Scan) has no index that could serve that part of the query. Which index and
join order the planner picks is not checked here: on a test's unanalysed, nearly empty tables that choice
says nothing about a brokerage's (it changed from one test database to the next); the rules' time at
scale is benchmarks/aml_rules.py's.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from compliance import aml
from compliance.models import AmlAlert, AmlRuleKind
from plumbing.sqlfiles import sql_names, sql_text
from tests.compliance.aml_support import ago, deposit, rule, world

pytestmark = pytest.mark.django_db

# The tables behind the views the rules read that grow with the brokerage (a month's partition counts as
# its table).
BIG_TABLES = {"crm_client", "crm_auditlog", "wallet_ledgerleg", "wallet_ledgertransaction", "wallet_ledgeraccount",
              "wallet_deposit", "wallet_withdrawal", "trading_deal", "trading_tradingaccount", "ib_clientattribution",
              "kyc_questionnaireresponse", "compliance_amlalert"}
SEQ_SCAN = re.compile(r"Seq Scan on (\w+?)(?:_p\d{6})?\b")


def plan_of(statement: str, params: dict[str, Any]) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN {statement}", params)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")


def plan_problems(plan: str) -> list[str]:
    """The big tables the plan reads whole (no index could serve it)."""
    return [f"reads {table} whole" for table in SEQ_SCAN.findall(plan) if table in BIG_TABLES]


def test_every_rule_kind_has_its_query_and_every_file_is_run_here():
    assert set(sql_names("compliance")) == {f"aml/{kind}" for kind in AmlRuleKind.values} | {
        "aml/insert_alerts", "aml/dry_run"}


@pytest.mark.parametrize("kind", AmlRuleKind.values)
def test_each_rules_query_runs_and_reads_the_big_tables_through_indexes(kind):
    w = world()
    version = aml.version_in_force(rule(w, kind, **aml.DEFAULT_PARAMETERS[kind]))
    # The periodic pass (the brand's clients) and a client's own evaluation, as the INSERT and the dry run.
    for client_id in (None, w.client.pk):
        params = aml._params(version, since=ago(days=1), until=timezone.now(), client_id=client_id)
        for name in ("aml/insert_alerts", "aml/dry_run"):
            plan = plan_of(sql_text("compliance", name, found=aml._rule_sql(kind)), params)
            assert plan_problems(plan) == [], f"{kind} ({name}, client {client_id}):\n{plan}"
    deposit(w.client, "20000.00")
    report = aml.aml_evaluate(since=ago(hours=1), until=timezone.now(), brand_id=w.brand.pk)
    dry = aml.aml_rule_dry_run(version=version)
    assert report.rules == 1
    # What the evaluation raised, the dry run shows as already alerted.
    assert {a.client_id for a in AmlAlert.objects.filter(pk__in=report.raised)} == {
        r.client_id for r in dry.rows if r.already_alerted}


def test_the_plan_check_finds_a_big_table_or_a_months_partition_read_whole():
    partition = ("Seq Scan on wallet_ledgerleg_p202611 l\n  ->  Seq Scan on compliance_jurisdiction j\n"
                 "  ->  Index Scan using tx_recorded on wallet_ledgertransaction t")
    assert plan_problems(partition) == ["reads wallet_ledgerleg whole"]
    # A big table no index serves is read whole even as the planner's last resort.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE crm_client (id bigint, name text)")  # shadows the real one
        try:
            assert plan_problems(plan_of("SELECT id FROM crm_client WHERE name = %(x)s", {"x": "a"})) == [
                "reads crm_client whole"]
        finally:
            cursor.execute("DROP TABLE pg_temp.crm_client")

"""`sanctions_screen`: a spreadsheet of names in, one row per alert out (an empty row for none)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.core.management import call_command

from compliance.services import watchlist_load
from compliance.watchlists.parsers import SourceFile

FIXTURES = Path(__file__).resolve().parent / "fixtures"
pytestmark = pytest.mark.django_db


def test_it_writes_one_row_per_alert_and_an_empty_row_for_a_clear_query(tmp_path: Path) -> None:
    watchlist_load(name="OFAC SDN", fmt="ofac-csv",
                   files=[SourceFile(n, (FIXTURES / n).read_bytes()) for n in ("sdn.csv", "alt.csv", "add.csv")])
    watchlist_load(name="EU", fmt="eu-xml", files=[SourceFile("eu.xml", (FIXTURES / "eu.xml").read_bytes())])
    source = tmp_path / "in.csv"
    source.write_text(
        "query_id,full_name,dob,country,client_type\n"
        "1,Sergei Petrov,1960-01-12,RU,person\n"
        "2,Anna Petrova,,RU,person\n"
        "3,Олег Дерипаска,,,person\n"
        "4,Volga Marine Shipping Ltd,,,company\n"
        "5,Sergey Petrov,1975-05-05,,person\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    call_command("sanctions_screen", str(source), "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    by_query = {r["query_id"]: r for r in rows}
    assert len(rows) == 5
    assert by_query["1"]["matched_ent_num"] == "9012"
    assert "'sergei' = 'serge" in by_query["1"]["explanation"]
    assert "DOB 1960-01-12 agrees" in by_query["1"]["explanation"]
    assert by_query["2"]["matched_ent_num"] == ""
    assert by_query["3"]["matched_ent_num"] == "140"
    assert by_query["4"]["matched_ent_num"] == "15002"
    assert by_query["5"]["matched_ent_num"] == ""  # the DOB contradicts every listed one: below the threshold
    only_eu = tmp_path / "eu.csv"
    call_command("sanctions_screen", str(source), "--out", str(only_eu), "--list", "EU")
    assert [r["matched_ent_num"] for r in csv.DictReader(only_eu.open(encoding="utf-8"))] == ["", "", "140", "", ""]

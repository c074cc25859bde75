"""`ib_import` of the three-level example, `trading_import_deals` of its deal report, and
`ib_calculate` on the result, with the amounts computed by hand."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

EXAMPLES = Path(__file__).resolve().parents[2] / "ib" / "examples"


@pytest.fixture
def atlas(db):
    from tests.factories import make_brand
    from trading.services import platform_server_save

    brand = make_brand(code="atlas")
    server = platform_server_save(
        actor=None, manager_password="x-secret-1", brand=brand, name="MT5 Atlas Live", kind="mt5_web", is_active=True,
        host="127.0.0.1", port=1, manager_login=1000,
        account_types={"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100]}})
    return brand, server


def _call(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_example_imports_once_and_calculates_the_hand_computed_totals(atlas):
    _brand, server = atlas
    out = _call("ib_import", str(EXAMPLES / "three_level.json"))
    assert "3 partners" in out and "2 plans" in out and "2 accounts" in out and "2 deposits" in out
    assert _call("ib_import", str(EXAMPLES / "three_level.json")) == "Imported: 2 instrument groups, 2 instruments, 1 fx rates.\n"
    _call("trading_import_deals", str(EXAMPLES / "three_level_deals.csv"), "--server", str(server.code))
    report = json.loads(_call("ib_calculate", "--period", "2024-03", "--json"))
    totals = {t["partner"]: t["payable"] for t in report["runs"][0]["totals"]}
    # Anna (Leaf's client), Standard IB:
    #   position 81001, 1 lot held 30 min: fx_rebate Leaf 5, Sub 2, Master 1;
    #   position 81002, 0.5 lot held 30 s (< 60 s): no rebate;
    #   commission share on the four deals' commissions 3.5 + 3.5 + 1.75 + 1.75 = 10.5:
    #     Leaf 20% = 2.1, Sub 5% = 0.525;
    #   CPA: deposit 500 >= 100, 1 lot reached on 4 March 12:30 (within 30 days), DE allowed:
    #     Leaf 200, Sub 50.
    # Karim (Sub's client): from 15 March his account has the VIP plan: XAUUSD 2 lots x contract
    #   100 / 100 units a lot = 2 lots x 8 = 16 for Sub alone. His deposit of 50 is under the CPA's 100.
    # Leaf 5 + 2.1 + 200 = 207.10; Sub 2 + 0.525 + 50 + 16 = 68.525 → 68.52 (half to even); Master 1.
    assert totals == {"Northwind Capital": "1.00", "Harbor Traders": "68.52", "Lighthouse FX Club": "207.10"}
    assert report["runs"][0]["number"] == 1
    text = _call("ib_calculate", "--period", "2024-03", "--settle")
    assert "run #2" in text and "delta 68.52" in text
    text = _call("ib_calculate", "--period", "2024-03")
    assert "run #3" in text and "settled 68.52  delta 0.00" in text


@pytest.mark.django_db
def test_a_bad_entry_is_named_and_nothing_is_imported(atlas, tmp_path):
    from ib.models import Partner

    data = json.loads((EXAMPLES / "three_level.json").read_text())
    data["plans"][0]["versions"][0]["rules"][0]["level_rates"] = ["five"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"plans\[0\]\.versions\[0\].*level_rates.*nothing was imported"):
        _call("ib_import", str(path))
    assert not Partner.objects.exists()
    with pytest.raises(CommandError, match="--period"):
        _call("ib_calculate", "--period", "March")


PLAIN = r"^-?\d+(\.\d+)?$"


@pytest.mark.django_db
def test_json_amounts_are_plain_decimals_and_a_run_without_totals_settles(atlas):
    import re

    _brand, server = atlas
    _call("ib_import", str(EXAMPLES / "three_level.json"))
    _call("trading_import_deals", str(EXAMPLES / "three_level_deals.csv"), "--server", str(server.code))
    run = json.loads(_call("ib_calculate", "--period", "2024-03", "--json"))["runs"][0]
    # Leaf's CPA line is 200 (once "2E+2"), its basis 1: every amount, basis and rate as plain text.
    texts = [line[key] for line in run["lines"] for key in ("basis", "rate", "fx_rate", "amount")]
    texts += [t[key] for t in run["totals"] for key in ("payable", "settled", "delta", "carry_out")]
    assert {"200", "1"} <= set(texts)
    assert [x for x in texts if not re.match(PLAIN, x)] == []
    # May has no deals, deposits or carry: its run has no totals, and --settle settles it and prints it.
    may = json.loads(_call("ib_calculate", "--period", "2024-05", "--settle", "--json"))["runs"][0]
    assert may["totals"] == [] and may["settled_at"] is not None


@pytest.mark.django_db
def test_the_import_counts_a_conflict_it_opened_as_a_conflict(atlas, tmp_path):
    from ib.models import AttributionConflict

    _call("ib_import", str(EXAMPLES / "three_level.json"))
    data = json.loads((EXAMPLES / "three_level.json").read_text())
    data["clients"][0]["partner"] = "sub"  # Anna is Leaf's already
    path = tmp_path / "again.json"
    path.write_text(json.dumps(data))
    out = _call("ib_import", str(path))
    assert "1 attribution conflicts" in out and " attributions" not in out
    assert AttributionConflict.objects.count() == 1


# --- the same import uploaded on the IB manager's pages -------------------------------------------------

def _upload(http, data: bytes, name: str = "programme.json"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return http.post("/ib/import/", {"file": SimpleUploadedFile(name, data, content_type="application/json")})


@pytest.fixture
def manager_http(atlas):
    from django.test import Client as HttpClient

    from crm.models import RoleCode
    from tests.factories import make_user
    from tests.rq import empty

    empty()
    http = HttpClient()
    http.force_login(make_user(role_code=RoleCode.IB_MANAGER, brand=atlas[0]))
    return http


@pytest.mark.django_db
def test_the_ib_manager_uploads_the_file_and_a_job_imports_it(manager_http, django_capture_on_commit_callbacks):
    from crm.models import Job
    from ib.models import Partner
    from tests.rq import work

    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(manager_http, (EXAMPLES / "three_level.json").read_bytes())
    job = Job.objects.get(kind="ib.import")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.code}/"
    work()
    job.refresh_from_db()
    assert job.status == "done" and job.counts["partners"] == 3 and job.counts["plans"] == 2
    assert Partner.objects.count() == 3
    page = manager_http.get(f"/jobs/{job.code}/").content.decode()
    assert "Partner programme import" in page


@pytest.mark.django_db
def test_an_upload_that_is_not_json_or_names_another_brand_is_refused_and_a_bad_entry_fails_the_job(
        manager_http, django_capture_on_commit_callbacks):
    from crm.models import Job
    from ib.models import Partner
    from tests.factories import make_brand
    from tests.rq import work

    response = _upload(manager_http, b"brand: atlas")
    assert response.status_code == 400 and "Not a JSON file" in response.content.decode()
    other = make_brand(code="orbit")
    data = json.loads((EXAMPLES / "three_level.json").read_text())
    response = _upload(manager_http, json.dumps({**data, "brand": other.code}).encode())
    assert response.status_code == 400 and "is not one you work for" in response.content.decode()
    assert not Job.objects.exists()
    data["partners"][1]["parent"] = "nobody@example.com"
    with django_capture_on_commit_callbacks(execute=True):
        _upload(manager_http, json.dumps(data).encode())
    work()
    job = Job.objects.get()
    assert job.status == "failed" and "partners[1]" in job.failure_reason and "nothing was imported" in job.failure_reason
    assert not Partner.objects.exists()


@pytest.mark.django_db
def test_a_backtest_after_a_migration_reproduces_what_the_old_crm_paid_then(atlas, tmp_path):
    """Imported history is known since its own time: a run as of a past moment reads what the old
    CRM knew then (its plans, assignments, deposits and, with --known-since-deal-time, its deals),
    not what was imported since."""
    _brand, _server = atlas
    data = json.loads((EXAMPLES / "three_level.json").read_text())
    # In May the old CRM corrected March's Standard IB rates (recorded then, effective 1 January):
    # a backtest as of 1 April must not see it.
    correction = json.loads(json.dumps(data["plans"][0]["versions"][0]))
    correction["recorded_at"] = "2024-05-02T00:00:00Z"
    correction["rules"][0]["level_rates"] = ["50", "20", "10"]
    data["plans"][0]["versions"].append(correction)
    path = tmp_path / "history.json"
    path.write_text(json.dumps(data))
    _call("ib_import", str(path))
    # The deal report names the server as the import does, by its name.
    _call("trading_import_deals", str(EXAMPLES / "three_level_deals.csv"), "--server", "MT5 Atlas Live",
          "--known-since-deal-time")
    back = json.loads(_call("ib_calculate", "--period", "2024-03", "--as-of", "2024-04-01T00:00:00Z", "--json"))
    totals = {t["partner"]: t["payable"] for t in back["runs"][0]["totals"]}
    # What the old CRM paid for March (the hand-computed totals of the first test above).
    assert totals == {"Northwind Capital": "1.00", "Harbor Traders": "68.52", "Lighthouse FX Club": "207.10"}
    # As of now the correction applies: Anna's 1 fx lot pays Leaf 50 (not 5), Sub 20 (not 2), Master 10 (not 1).
    now = json.loads(_call("ib_calculate", "--period", "2024-03", "--json"))
    totals = {t["partner"]: t["payable"] for t in now["runs"][0]["totals"]}
    assert totals == {"Northwind Capital": "10.00", "Harbor Traders": "86.52", "Lighthouse FX Club": "252.10"}

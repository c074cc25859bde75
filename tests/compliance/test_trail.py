"""The compliance trail export: a client's trail holds every kind of step (KYC submission and decision,
screening hit and its decision, restriction imposed and lifted, consents given at registration, risk
score changes, reveals of personal data, the KYC documents) with the audit chain's status, as a ZIP
with a PDF summary and one CSV per section, built by a django-rq job; a brand's trail holds the
brand's clients and no one else's; a bad period is refused naming the field; only compliance officers
export (page, API)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker

from compliance.models import CaseItemKind, TrailExport
from compliance.risk import risk_score_compute
from compliance.services import (
    case_decide,
    case_item_attach,
    case_review_start,
    client_screen,
    impose_restriction,
    jurisdiction_set,
    lift_restriction,
    screening_hit_decide,
    watchlist_load,
)
from compliance.trail import SECTIONS, trail_export_request
from compliance.watchlists.parsers import SourceFile
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import Job, RoleCode
from crm.services import client_contact_reveal
from tests.factories import make_brand, make_desk, make_user
from tests.wallet.withdrawal_support import kyc_approve

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def queue():
    q = django_rq.get_queue("default")
    q.empty()
    return q


def _register(brand: Any, **fields: Any) -> Any:
    from portal.models import ConsentDocument, ConsentKind
    from portal.services import portal_register

    brand.served_countries = ["KZ", "DE"]
    brand.save(update_fields=["served_countries"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.get_or_create(brand=brand, kind=kind, version="1", language="en",
                                              defaults={"title": f"{kind} v1"})
    values = {"language": "en", "phone": "+77011234567", "country": "KZ", "password": "tidal-compass-8153",
              "accept_terms": True, "accept_privacy": True, **fields}
    return portal_register(brand=brand, **values).login.client


@pytest.fixture
def world(db, settings, django_capture_on_commit_callbacks):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "2"  # one officer decides (four-eyes is screening's own test)
    brand = make_brand()
    desk = make_desk(brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Trail Officer")
    admin = make_user(role_code=RoleCode.ADMIN, brand=brand)
    with django_capture_on_commit_callbacks(execute=False):
        watchlist_load(name="PEP", fmt="pep-csv", files=[SourceFile("pep.csv", (FIXTURES / "pep.csv").read_bytes())])
        client = _register(brand, first_name="Nurlan", last_name="Abdrakhmanov", email="nurlan@example.com",
                           date_of_birth=dt.date(1970, 11, 3))
        neighbour = _register(brand, first_name="Anna", last_name="Weiss", email="anna@example.com", country="DE",
                              phone="+4915112345678", date_of_birth=dt.date(1985, 2, 3))
        stranger = _register(make_brand(), first_name="Otto", last_name="Fremd", email="otto@example.com",
                             country="DE", phone="+4915112345679", date_of_birth=dt.date(1979, 4, 5))
        # Every kind of step, through the services.
        kyc_approve(client)
        [hit] = client_screen(client_id=client.pk, trigger="kyc_submission")
        screening_hit_decide(hit=hit, actor=officer, action="confirm", reason="Same person: deputy minister")
        [row] = impose_restriction(client=client, kinds=["no_withdrawal"], reason="Source of funds review", by=officer)
        lift_restriction(restriction=row, reason="Documents received", by=officer)
        jurisdiction_set(brand=brand, country="KZ", status="high_risk", by=officer)
        risk_score_compute(client_id=client.pk, trigger="test")
        client_contact_reveal(actor=admin, client=client, field="email")
        # The confirmed hit's case (the handler of compliance.hit_confirmed, called as delivery would).
        case = case_item_attach(client=client, kind=CaseItemKind.SCREENING_HIT, ref_id=str(hit.code),
                                summary="PEP", score=90).case
        case_review_start(case=case, actor=officer)
        case_decide(case=case, actor=officer, decision="no_action", reason="Known PEP, ordinary activity")
        for other in (neighbour, stranger):
            impose_restriction(client=other, kinds=["no_deposit"], reason="Other client's review", by=None)
    return SimpleNamespace(brand=brand, agent=agent, officer=officer, admin=admin, client=client,
                           neighbour=neighbour, stranger=stranger)


def _export(world: Any, queue: Any, capture: Any, *, client: Any = None, user: Any = None) -> zipfile.ZipFile:
    today = timezone.localdate()
    with capture(execute=True):
        row = trail_export_request(actor=user or world.officer, brand=world.brand, client=client,
                                   start=today - dt.timedelta(days=1), end=today)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job = Job.objects.get(pk=row.job_id)
    assert job.status == "done", job.failure_reason
    with job.result_file.open("rb") as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))


def _rows(zf: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(zf.read(f"{name}.csv").decode())))


def test_a_clients_trail_holds_every_kind_of_step_with_the_documents_and_the_chain_status(
        world, queue, django_capture_on_commit_callbacks):
    zf = _export(world, queue, django_capture_on_commit_callbacks, client=world.client)
    names = set(zf.namelist())
    assert {"summary.pdf", *(f"{key}.csv" for key in SECTIONS)} <= names
    assert zf.read("summary.pdf").startswith(b"%PDF")
    code = str(world.client.code)
    kyc = _rows(zf, "kyc_decisions")
    assert {"kyc.submitted", "kyc.approved"} <= {r["event"] for r in kyc} and {r["client"] for r in kyc} == {code}
    screening = _rows(zf, "screening")
    assert [r["step"] for r in screening] == ["raised", "decided"]
    assert screening[1]["action"] == "confirm" and screening[1]["officer"] == world.officer.email
    assert "deputy minister" in screening[1]["reason_or_trigger"]
    restrictions = _rows(zf, "restrictions")
    assert [(r["step"], r["kind"]) for r in restrictions] == [("imposed", "no_withdrawal"), ("lifted", "no_withdrawal")]
    assert restrictions[1]["reason"] == "Documents received"
    consents = _rows(zf, "consents")
    assert consents[0]["action"] == "registered" and '"terms"' in consents[0]["details"]
    risk = _rows(zf, "risk_scores")
    assert risk and all(r["client"] == code for r in risk)
    assert any("country=40" in r["factors"] for r in risk)  # the high-risk jurisdiction's contribution
    reveals = _rows(zf, "personal_data_reveals")
    assert [(r["kind"], r["by"]) for r in reveals] == [("reveal_email", world.admin.email)]
    cases = _rows(zf, "case_actions")
    assert [r["to_status"] for r in cases][-1] == "closed" and cases[-1]["by"] == world.officer.email
    assert cases[-1]["reason"] == "Known PEP, ordinary activity" and {r["client"] for r in cases} == {code}
    documents = _rows(zf, "documents")
    assert documents and all(r["file"] in names for r in documents)
    export = TrailExport.objects.get(client=world.client)
    assert export.chain_ok is True and export.counts["restrictions"] == 2 and export.counts["files"] == len(documents)


def test_a_brands_trail_holds_its_clients_only(world, queue, django_capture_on_commit_callbacks):
    zf = _export(world, queue, django_capture_on_commit_callbacks)
    clients = {r["client"] for r in _rows(zf, "restrictions")}
    assert clients == {str(world.client.code), str(world.neighbour.code)}
    everything = "".join(zf.read(n).decode() for n in zf.namelist() if n.endswith(".csv"))
    assert str(world.stranger.code) not in everything and str(world.neighbour.code) in everything


def test_a_bad_period_is_refused_naming_the_field_and_nothing_is_queued(world):
    today = timezone.localdate()
    cases = [({"start": None, "end": today}, "start"), ({"start": today, "end": None}, "end"),
             ({"start": today, "end": today - dt.timedelta(days=1)}, "end"),
             ({"start": today + dt.timedelta(days=3), "end": today + dt.timedelta(days=4)}, "start"),
             ({"start": today - dt.timedelta(days=4000), "end": today}, "end")]
    for period, field in cases:
        with pytest.raises(ValidationFailed) as bad:
            trail_export_request(actor=world.officer, brand=world.brand, **period)
        assert field in bad.value.fields, (period, bad.value.fields)
    with pytest.raises(ValidationFailed) as bad:
        trail_export_request(actor=world.officer, brand=world.brand, client=world.stranger, start=today, end=today)
    assert "client" in bad.value.fields
    with pytest.raises(NotAllowed):
        trail_export_request(actor=world.agent, brand=world.brand, start=today, end=today)
    assert not TrailExport.objects.exists()


def test_the_page_and_the_api_start_an_export_for_officers_only(world, client, django_capture_on_commit_callbacks,
                                                                login_verified):
    today = timezone.localdate().isoformat()
    login_verified(client, world.officer)
    assert client.get(reverse("compliance_trail")).status_code == 200
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("compliance_trail_start"), {
            "brand": world.brand.code, "client": str(world.client.code), "start": today, "end": ""})
        assert response.status_code == 400 and 'name="end"' in response.content.decode()
        response = client.post(reverse("compliance_trail_start"), {
            "brand": world.brand.code, "client": str(world.client.code), "start": today, "end": today})
        assert response.status_code == 302
        body = client.post("/api/v1/compliance/trail-exports", {"brand": world.brand.code, "start": today,
                                                                "end": today}, content_type="application/json")
        assert body.status_code == 201 and body.json()["client"] is None
        bad = client.post("/api/v1/compliance/trail-exports", {"brand": world.brand.code, "start": today},
                          content_type="application/json")
        assert bad.status_code == 422 and '"end"' in bad.content.decode()
    assert TrailExport.objects.count() == 2
    assert client.get(f"/api/v1/compliance/trail-exports/{body.json()['code']}").json()["status"] == "queued"
    client.logout()
    login_verified(client, world.agent)
    assert client.get(reverse("compliance_trail")).status_code in (403, 404)
    assert client.post("/api/v1/compliance/trail-exports", {"brand": world.brand.code, "start": today, "end": today},
                       content_type="application/json").status_code == 404


def test_an_officer_starts_a_clients_trail_from_the_clients_compliance_tab(world, client, login_verified,
                                                                           django_capture_on_commit_callbacks):
    """Not by pasting the client's code into the export's page (issue 58, item 11)."""
    import re

    login_verified(client, world.officer)
    tab = client.get(reverse("client_detail", args=[world.client.code]) + "?tab=compliance").content.decode()
    form = re.search(r'<section[^>]*id="client-trail".*?</form>', tab, re.S)
    assert form is not None and reverse("compliance_trail_start") in form.group(0)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))
    assert fields["client"] == str(world.client.code) and fields["brand"] == world.brand.code
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(reverse("compliance_trail_start"), fields).status_code == 302
    export = TrailExport.objects.get()
    assert export.client == world.client and export.last_day == timezone.localdate()
    page = client.get(f"{reverse('compliance_trail')}?client={world.client.code}&brand={world.brand.code}")
    assert f'value="{world.client.code}"' in page.content.decode()
    client.logout()
    login_verified(client, world.agent)  # sees the client, not the export
    tab = client.get(reverse("client_detail", args=[world.client.code]) + "?tab=compliance").content.decode()
    assert 'id="client-trail"' not in tab

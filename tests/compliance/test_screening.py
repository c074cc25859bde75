"""Screening in the product: at registration, at KYC submission and on a change of details (through
the lower apps' events and the Celery task); re-screening after a list version against its changes
only; the review queue's decisions, the four-eyes rule above the high score, dismissals that stay
dismissed until the details change; permissions and the audit trail; the pages and the staff API."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.urls import reverse

from compliance.exceptions import HitDecisionRefused
from compliance.models import ScreeningHit
from compliance.services import (
    client_screen,
    clients_rescreen_all,
    screening_hit_approve,
    screening_hit_decide,
    screening_hit_send_back,
    watchlist_load,
)
from compliance.watchlists.parsers import SourceFile
from crm import events
from crm.celery import app as celery_app
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Event, RoleCode, Task
from crm.services import client_update
from tests.factories import make_brand, make_client, make_desk, make_user

FIXTURES = Path(__file__).resolve().parent / "fixtures"
pytestmark = pytest.mark.django_db


def files(*names: str) -> list[SourceFile]:
    return [SourceFile(n, (FIXTURES / n).read_bytes()) for n in names]


@pytest.fixture
def eager_celery():
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def deliver(eager_celery, django_capture_on_commit_callbacks):
    """Deliver the pending events; the handlers' queued screenings run (eagerly) on commit."""

    def run() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            events.dispatch_pending()

    return run


@pytest.fixture
def world(db, settings, django_capture_on_commit_callbacks):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "0.95"
    brand = make_brand()
    desk = make_desk(brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Priya Officer")
    officer2 = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Second Officer")
    outsider = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand())
    with django_capture_on_commit_callbacks(execute=False):  # no client yet: nothing to re-screen
        version = watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn.csv", "alt.csv", "add.csv"))
    return SimpleNamespace(brand=brand, desk=desk, agent=agent, officer=officer, officer2=officer2,
                           outsider=outsider, version=version)


def hits_of(client: Any) -> list[ScreeningHit]:
    return list(ScreeningHit.objects.filter(client=client).order_by("pk"))


def petrov(world: Any, **fields: Any) -> Any:
    values = {"first_name": "Sergey", "last_name": "Petrov", "email": "s.petrov@example.com", "country": "RU"}
    return make_client(actor=world.agent, brand=world.brand, **{**values, **fields})


# --- the triggers -----------------------------------------------------------------------------------

def test_a_registration_in_the_traders_room_is_screened(world, deliver):
    from portal.models import ConsentDocument, ConsentKind
    from portal.services import portal_register

    world.brand.served_countries = ["GB", "RU"]
    world.brand.save(update_fields=["served_countries"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=world.brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    done = portal_register(brand=world.brand, language="en", first_name="Sergei", last_name="Petrov",
                           email="sergei@example.com", phone="+79161234567", country="RU",
                           date_of_birth=date(1960, 1, 12), password="tidal-compass-8153", accept_terms=True,
                           accept_privacy=True)
    deliver()
    [hit] = hits_of(done.login.client)
    # Registration writes the date of birth on the client too: whichever event is delivered first screens.
    assert (hit.ent_num, hit.status) == ("9012", "open") and hit.trigger in ("registration", "details_changed")
    assert hit.screened == {"name": "Sergei Petrov", "dob": "1960-01-12", "country": "RU"}
    assert {"typed", "listed", "how"} <= set(hit.matches[0])


def test_a_kyc_submission_is_screened(world, deliver, django_capture_on_commit_callbacks, settings, tmp_path):
    from kyc.services import submission_create
    from tests.kyc.conftest import documents

    settings.KYC_STORAGE_DIR = tmp_path / "kyc"
    client = make_client(actor=world.agent, brand=world.brand, first_name="Hamza", last_name="Al Rashid",
                         email="hamza@example.com", stage="registered")
    assert hits_of(client) == []  # a client made by staff is screened when it registers or sends KYC
    with django_capture_on_commit_callbacks(execute=False):  # the KYC checks are not what is tested here
        submission_create(client=client, documents=documents("hamza"))
    deliver()
    [hit] = hits_of(client)
    assert (hit.ent_num, hit.trigger) == ("7652", "kyc_submission")


def test_a_change_of_name_is_screened_and_a_change_of_phone_is_not(world, deliver):
    client = make_client(actor=world.agent, brand=world.brand, first_name="Marek", last_name="Nowak",
                         email="m@example.com", phone="+442071838750")
    client_update(actor=world.agent, client=client, phone="+442071838751")
    deliver()
    assert not Event.objects.filter(name="compliance.hit_raised").exists()
    client_update(actor=world.agent, client=client, first_name="Sergey", last_name="Petrov")
    deliver()
    [hit] = hits_of(client)
    assert (hit.ent_num, hit.trigger) == ("9012", "details_changed")
    raised = Event.objects.get(name="compliance.hit_raised")
    assert raised.client_id is None and raised.data["client"] == str(client.code)  # not on the client's timeline


def test_a_recorded_nationality_screens_the_client_again_and_the_hit_names_it(world, deliver, settings):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "1.1"
    client = petrov(world, country="GB")
    [hit] = client_screen(client_id=client.pk, trigger="daily")
    assert "nationality" not in hit.screened and "nationality" not in hit.explanation
    screening_hit_decide(hit=hit, actor=world.officer, action="dismiss", reason="A British namesake")
    assert client_screen(client_id=client.pk, trigger="daily") == []  # dismissed: quiet while nothing changes
    with pytest.raises(ValidationFailed) as bad:
        client_update(actor=world.agent, client=client, nationality="Russia")
    assert "nationality" in bad.value.fields
    client_update(actor=world.agent, client=client, nationality="ru")
    deliver()
    [again] = ScreeningHit.objects.filter(client=client, status="open")
    assert again.trigger == "details_changed" and again.screened["nationality"] == "RU"
    assert "nationality RU listed" in again.explanation and "country GB not listed" in again.explanation


def test_a_date_of_birth_that_contradicts_every_listed_one_raises_nothing(world):
    client = petrov(world, date_of_birth=date(1990, 5, 5))
    assert client_screen(client_id=client.pk, trigger="details_changed") == []


# --- re-screening after a list version --------------------------------------------------------------

def test_a_new_version_alerts_only_for_its_new_or_changed_entries(world, eager_celery,
                                                                 django_capture_on_commit_callbacks):
    changed = petrov(world, date_of_birth=date(1962, 1, 12))  # v1 lists 1960-01-12 and 1961: cleared
    added = make_client(actor=world.agent, brand=world.brand, first_name="Marek", last_name="Novak",
                        email="novak@example.com", date_of_birth=date(1979, 3, 3))
    unchanged = make_client(actor=world.agent, brand=world.brand, first_name="Jong Un", last_name="Kim",
                            email="kim@example.com")
    ordinary = make_client(actor=world.agent, brand=world.brand, first_name="Ivan", last_name="Sokolov",
                           email="ivan@example.com")
    with django_capture_on_commit_callbacks(execute=True):  # the load queues the re-screening on commit
        version = watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn_v2.csv", "alt.csv", "add.csv"))
    assert sorted(version.added) == ["16000"] and "9012" in version.changed
    found = {(h.client_id, h.ent_num, h.trigger, h.version_id) for h in ScreeningHit.objects.all()}
    assert found == {(changed.pk, "9012", "list_update", version.pk), (added.pk, "16000", "list_update", version.pk)}
    assert hits_of(unchanged) == [] and hits_of(ordinary) == []  # Kim's entry did not change in v2
    # The daily run screens against everything: Kim is found then.
    report = clients_rescreen_all()
    assert report.raised == 1 and hits_of(unchanged)[0].ent_num == "2674"


# --- decisions ----------------------------------------------------------------------------------------

def test_a_dismissed_hit_stays_dismissed_and_comes_back_when_the_entry_changes(world, settings, eager_celery,
                                                                               django_capture_on_commit_callbacks):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "1.1"  # one officer decides
    client = petrov(world)
    [hit] = client_screen(client_id=client.pk, trigger="daily")
    with pytest.raises(ValidationFailed) as refused:
        screening_hit_decide(hit=hit, actor=world.officer, action="dismiss", reason=" ")
    assert "reason" in refused.value.fields
    screening_hit_decide(hit=hit, actor=world.officer, action="dismiss", reason="Born in 1985 per passport")
    hit.refresh_from_db()
    assert hit.status == "dismissed" and hit.decision_reason == "Born in 1985 per passport"
    assert client_screen(client_id=client.pk, trigger="daily") == []
    assert clients_rescreen_all().raised == 0
    with django_capture_on_commit_callbacks(execute=True):  # v2 changes Petrov's entry (a new DOB)
        watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn_v2.csv", "alt.csv", "add.csv"))
    again = ScreeningHit.objects.get(client=client, status="open")
    assert again.ent_num == "9012" and again.trigger == "list_update" and again.pk != hit.pk


def test_a_dismissed_hit_comes_back_when_the_clients_details_change(world, settings):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "1.1"
    client = petrov(world)
    [hit] = client_screen(client_id=client.pk, trigger="daily")
    screening_hit_decide(hit=hit, actor=world.officer, action="dismiss", reason="Another man")
    client_update(actor=world.agent, client=client, date_of_birth=date(1961, 6, 1))
    [again] = client_screen(client_id=client.pk, trigger="details_changed")
    assert again.screened["dob"] == "1961-06-01"


def test_above_the_high_score_a_second_different_officer_must_approve(world, settings):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "0.5"
    client = petrov(world, date_of_birth=date(1960, 1, 12))
    [hit] = client_screen(client_id=client.pk, trigger="daily")
    screening_hit_decide(hit=hit, actor=world.officer, action="confirm", reason="Same passport number")
    hit.refresh_from_db()
    assert hit.status == "pending" and hit.pending_by == world.officer
    assert not Task.objects.filter(title__contains="Petrov").exists()
    with pytest.raises(HitDecisionRefused) as same:
        screening_hit_approve(hit=hit, actor=world.officer)
    assert same.value.code == "second_officer_required"
    with pytest.raises(HitDecisionRefused):
        screening_hit_decide(hit=hit, actor=world.officer2, action="dismiss", reason="no")
    screening_hit_approve(hit=hit, actor=world.officer2)
    hit.refresh_from_db()
    assert (hit.status, hit.decided_by, hit.approved_by) == ("confirmed", world.officer, world.officer2)
    # Compliance's task, not the client's (the client's tasks are the sales floor's to read).
    task = Task.objects.get(title__contains="Petrov")
    assert task.assignee == world.officer2 and task.client is None
    confirmed = Event.objects.get(name="compliance.hit_confirmed")
    assert confirmed.data["approved_by"]["code"] == str(world.officer2.code)
    actions = list(AuditLog.objects.filter(action__startswith="compliance.hit_").order_by("pk")
                   .values_list("action", "actor_id"))
    assert actions == [("compliance.hit_decision_proposed", world.officer.pk),
                       ("compliance.hit_confirmed", world.officer2.pk)]
    assert [(d.step, d.officer_id) for d in hit.decisions.all()] == [("proposed", world.officer.pk),
                                                                     ("approved", world.officer2.pk)]


def test_the_second_officer_can_send_the_decision_back(world, settings):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "0.5"
    [hit] = client_screen(client_id=petrov(world).pk, trigger="daily")
    screening_hit_decide(hit=hit, actor=world.officer, action="dismiss", reason="Common name")
    screening_hit_send_back(hit=hit, actor=world.officer2, reason="Check the DOB first")
    hit.refresh_from_db()
    assert hit.status == "open" and hit.pending_by is None
    assert AuditLog.objects.filter(action="compliance.hit_sent_back", reason="Check the DOB first").exists()


def test_below_the_high_score_one_officer_decides_and_it_is_audited(world, settings):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "1.1"
    [hit] = client_screen(client_id=petrov(world).pk, trigger="daily")
    screening_hit_decide(hit=hit, actor=world.officer, action="confirm")
    hit.refresh_from_db()
    assert hit.status == "confirmed" and hit.approved_by is None
    row = AuditLog.objects.get(action="compliance.hit_confirmed")
    assert row.actor_id == world.officer.pk and row.after["ent_num"] == "9012"


def test_only_officers_decide(world):
    [hit] = client_screen(client_id=petrov(world).pk, trigger="daily")
    with pytest.raises(NotAllowed):
        screening_hit_decide(hit=hit, actor=world.agent, action="confirm")


# --- pages ---------------------------------------------------------------------------------------------

def test_the_queue_and_the_hit_page_show_the_hit_beside_the_client(world, client, login_verified):
    hit = client_screen(client_id=petrov(world, date_of_birth=date(1960, 1, 12)).pk, trigger="daily")[0]
    login_verified(client, world.officer)
    page = client.get(reverse("compliance_screening_queue"))
    assert page.status_code == 200 and str(hit.code) in page.content.decode()
    assert str(hit.code) not in client.get(reverse("compliance_screening_queue"), {"status": "dismissed"}).content.decode()
    answer = client.get(reverse("compliance_screening_hit", args=[hit.code]))
    assert answer.status_code == 200, answer.content.decode()[-3000:]
    detail = answer.content.decode()
    assert "PETROV, Sergey Ivanovich" in detail, hit.matched_name
    assert "1960-01-12" in detail
    assert all(f'data-token="{m["typed"]}"' in detail for m in hit.matches), hit.matches


def test_an_officer_confirms_on_the_page_and_a_second_officer_approves(world, client, login_verified, settings):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "0.5"
    hit = client_screen(client_id=petrov(world).pk, trigger="daily")[0]
    login_verified(client, world.officer)
    url = reverse("compliance_screening_hit_action", args=[hit.code, "decide"])
    assert client.post(url, {"action": "dismiss", "reason": ""}).status_code == 400  # the reason is required
    assert client.post(url, {"action": "confirm", "reason": "Match"}).status_code == 302
    again = client.post(reverse("compliance_screening_hit_action", args=[hit.code, "approve"]))
    assert again.status_code == 400 and "second, different officer" in again.content.decode()
    login_verified(client, world.officer2)
    assert client.post(reverse("compliance_screening_hit_action", args=[hit.code, "approve"])).status_code == 302
    hit.refresh_from_db()
    assert hit.status == "confirmed"


def test_pages_are_for_officers_of_the_clients_brand(world, client, login_verified):
    hit = client_screen(client_id=petrov(world).pk, trigger="daily")[0]
    login_verified(client, world.agent)
    assert client.get(reverse("compliance_screening_queue")).status_code == 404
    assert client.get(reverse("compliance_watchlist_versions")).status_code == 404
    url = reverse("compliance_screening_hit_action", args=[hit.code, "decide"])
    assert client.post(url, {"action": "confirm"}).status_code == 404
    tab = client.get(reverse("client_detail", args=[hit.client.code]), {"tab": "compliance"})
    assert str(hit.code) not in tab.content.decode()
    login_verified(client, world.outsider)
    assert client.get(reverse("compliance_screening_hit", args=[hit.code])).status_code == 404
    assert str(hit.code) not in client.get(reverse("compliance_screening_queue")).content.decode()
    assert client.post(url, {"action": "confirm"}).status_code == 404
    hit.refresh_from_db()
    assert hit.status == "open"


def test_the_clients_compliance_tab_lists_hits_and_decisions(world, client, login_verified, settings):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "1.1"
    hit = client_screen(client_id=petrov(world).pk, trigger="daily")[0]
    screening_hit_decide(hit=hit, actor=world.officer, action="dismiss", reason="Different middle name")
    login_verified(client, world.officer)
    tab = client.get(reverse("client_detail", args=[hit.client.code]), {"tab": "compliance"},
                     HTTP_HX_REQUEST="true").content.decode()
    assert str(hit.code) in tab and "Different middle name" in tab


def test_an_upload_loads_a_version_and_its_diff_is_shown(world, client, login_verified):
    from django.core.files.uploadedfile import SimpleUploadedFile

    # Lists are global: loaded by an officer of every brand (tests/compliance/test_watchlist_global.py).
    login_verified(client, make_user(role_code=RoleCode.COMPLIANCE, brand=world.brand, all_brands=True))
    uploads = [SimpleUploadedFile(n, (FIXTURES / n).read_bytes()) for n in ("sdn_v2.csv", "alt.csv", "add.csv")]
    answer = client.post(reverse("compliance_watchlist_versions"),
                         {"list_name": "OFAC SDN", "fmt": "ofac-csv", "files": uploads})
    assert answer.status_code == 302
    diff = client.get(answer["Location"]).content.decode()
    assert "NOVAK, Marek" in diff and 'data-diff="changed"' in diff and "1962" in diff
    bad = client.post(reverse("compliance_watchlist_versions"), {
        "list_name": "OFAC SDN", "fmt": "ofac-csv",
        "files": [SimpleUploadedFile("sdn.csv", (FIXTURES / "sdn_bad_dob.csv").read_bytes())]})
    assert bad.status_code == 400 and "Nothing was loaded" in bad.content.decode()
    assert world.version.watchlist.versions.count() == 2


def test_the_queue_reads_right_to_left_in_arabic(world, client, login_verified):
    world.officer.language = "ar"
    world.officer.save(update_fields=["language"])
    login_verified(client, world.officer)
    page = client.get(reverse("compliance_screening_queue"), HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert 'dir="rtl"' in page and "قائمة الفحص" in page


# --- the staff API ---------------------------------------------------------------------------------------

def test_the_api_decides_with_four_eyes_and_refuses_keys_and_outsiders(world, client, login_verified, settings):
    settings.COMPLIANCE_SCREENING_HIGH_SCORE = "0.5"
    hit = client_screen(client_id=petrov(world).pk, trigger="daily")[0]
    login_verified(client, world.outsider)
    assert client.get(f"/api/v1/compliance/screening/hits/{hit.code}").status_code == 404
    login_verified(client, world.officer)
    listed = client.get("/api/v1/compliance/screening/hits").json()
    assert [item["code"] for item in listed["items"]] == [str(hit.code)]
    decided = client.post(f"/api/v1/compliance/screening/hits/{hit.code}/decision",
                          {"action": "confirm", "reason": "match"}, content_type="application/json")
    assert decided.status_code == 200 and decided.json()["status"] == "pending"
    same = client.post(f"/api/v1/compliance/screening/hits/{hit.code}/approval")
    assert same.status_code == 409 and same.json()["code"] == "second_officer_required"
    login_verified(client, world.officer2)
    approved = client.post(f"/api/v1/compliance/screening/hits/{hit.code}/approval")
    assert approved.status_code == 200 and approved.json()["status"] == "confirmed"
    versions = client.get("/api/v1/compliance/watchlists/versions").json()
    assert versions[0]["list"] == "OFAC SDN"

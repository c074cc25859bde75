"""The event catalogue: every event is declared with a typed payload; emit refuses what does not
fit (naming the field), handlers may only listen to declared events, and administrators see
every event with its payload and listeners."""

from __future__ import annotations

import logging
from typing import NotRequired, TypedDict

import pytest
from django.core.checks import run_checks
from django.db import transaction
from django.urls import reverse

from automation.services import automation_rule_save
from crm import events
from crm.events import EventContractError, catalogue
from crm.models import Event
from crm.registry import PLAYBOOK
from tests import event_payloads as payloads
from tests.factories import make_brand, make_client, make_user


def nothing(event: Event) -> None:
    return None


@pytest.fixture
def handlers():
    """The handler registry, restored after the test."""
    saved = ({name: list(hs) for name, hs in events._registry.items()}, list(events._wildcard))
    yield events
    events._registry.clear()
    events._registry.update(saved[0])
    events._wildcard[:] = saved[1]


def _refused(name: str, data: dict | None = None) -> EventContractError:
    with pytest.raises(EventContractError) as caught, transaction.atomic():
        events.emit(name, data=data)
    return caught.value


# --- emit holds events to their declarations ------------------------------------------------------

def test_it_refuses_an_event_no_app_declares_and_writes_nothing(db):
    error = _refused("wallet.first_depsit", payloads.first_deposit(amount="10.00", currency="USD"))

    assert error.field == "name"
    assert "wallet.first_depsit" in str(error) and "not declared" in str(error)
    assert not Event.objects.exists()


def test_it_refuses_a_payload_missing_a_required_field_and_names_it(db):
    error = _refused("client.stage_changed", {"from": "lead", "reason": ""})

    assert error.field == "data.to"
    assert "required field missing" in str(error)
    assert not Event.objects.exists()


def test_it_refuses_a_value_of_the_wrong_type_and_names_the_field(db):
    deposit = payloads.first_deposit(amount="250.00", currency="USD") | {"amount": 250.5}

    error = _refused("wallet.first_deposit", deposit)

    assert error.field == "data.amount"
    assert "expected text, got float" in str(error)


def test_it_refuses_an_amount_that_is_not_a_decimal(db):
    error = _refused("wallet.first_deposit", payloads.first_deposit(amount="250,00", currency="USD"))

    assert error.field == "data.amount"
    assert "decimal" in str(error)


def test_it_names_a_wrong_field_inside_a_nested_reference(db):
    agent = make_user(role_code="sales_agent")
    routed = payloads.lead_routed(owner=agent)
    routed["owner"] = {"code": str(agent.code), "name": None}

    error = _refused("lead.routed", routed)

    assert error.field == "data.owner.name"


def test_it_refuses_a_field_the_contract_does_not_have(db):
    error = _refused("kyc.submitted", {"documents": 2, "docs": 2})

    assert error.field == "data.docs"
    assert "not a field of this event" in str(error)


def test_a_true_or_false_is_not_a_count(db):
    error = _refused("kyc.submitted", {"documents": True})

    assert error.field == "data.documents"


def test_emit_many_refuses_the_whole_batch_when_one_row_does_not_fit(db):
    client = make_client()
    good = {"name": "kyc.submitted", "client": client, "data": payloads.kyc_submitted()}
    bad = {"name": "kyc.submitted", "client": client, "data": {"documents": "two"}}

    with pytest.raises(EventContractError) as caught, transaction.atomic():
        events.emit_many([good, bad, good])

    assert caught.value.field == "data.documents"
    assert not Event.objects.filter(name="kyc.submitted").exists()


def test_a_declared_event_that_fits_is_recorded(db):
    client = make_client()
    with transaction.atomic():
        events.emit("kyc.approved", client=client, data=payloads.kyc_approved(level="full"))

    assert Event.objects.get(name="kyc.approved").data == {"level": "full", "reviewer": None}


def test_optional_fields_may_be_left_out_but_not_mistyped(db):
    class Optional_(TypedDict):
        count: int
        note: NotRequired[str]

    events.declare("test.optional_fields", payload=Optional_)
    try:
        with transaction.atomic():
            events.emit("test.optional_fields", data={"count": 1})
        assert _refused("test.optional_fields", {"count": 1, "note": 3}).field == "data.note"
    finally:
        catalogue.undeclare("test.optional_fields")


def test_outside_strict_mode_a_mismatch_is_logged_loudly_and_the_event_kept(db, settings, caplog):
    """In production a payload drift must not fail the service that emitted it (a deposit that
    has happened); it is logged as an error and the record is kept."""
    settings.CRM_EVENTS_STRICT = False
    client = make_client()

    with caplog.at_level(logging.ERROR, logger="crm.events"), transaction.atomic():
        events.emit("kyc.submitted", client=client, data={"documents": "two"})

    assert Event.objects.filter(name="kyc.submitted").count() == 1
    [record] = [r for r in caplog.records if r.name == "crm.events"]
    assert record.levelno == logging.ERROR
    assert record.field == "data.documents"  # type: ignore[attr-defined]


# --- one owner, one contract ------------------------------------------------------------------------

def test_an_event_cannot_be_declared_twice_with_another_payload():
    class Other(TypedDict):
        documents: str

    with pytest.raises(ValueError, match="already declared by kyc"):
        events.declare("kyc.submitted", payload=Other)
    assert catalogue.event_type("kyc.submitted").payload.__name__ == "KycSubmitted"


def test_the_contracts_the_next_apps_must_honour_are_declared_by_their_owners():
    owners = {name: catalogue.event_type(name).app for name in (
        "kyc.submitted", "kyc.approved", "kyc.rejected", "kyc.expired", "wallet.first_deposit")}

    assert owners == {"kyc.submitted": "kyc", "kyc.approved": "kyc", "kyc.rejected": "kyc", "kyc.expired": "kyc",
                      "wallet.first_deposit": "wallet"}
    deposit = {f.name for f in catalogue.event_type("wallet.first_deposit").fields()}
    assert {"amount", "currency"} <= deposit  # what the sales KPIs and the playbook read


def test_every_playbook_rule_listens_to_declared_events_and_reads_declared_fields():
    rules = [dict(r.spec) for r in PLAYBOOK]
    assert {r["trigger"] for r in rules} >= {"lead.routed", "client.stage_changed", "wallet.first_deposit",
                                             "trading.account_inactive"}
    for rule in rules:
        declared = catalogue.event_type(rule["trigger"])
        assert declared is not None, rule["trigger"]
        for name in rule.get("cancel_on", []):
            assert catalogue.event_type(name) is not None, name
        fields = {f.name for f in declared.fields()}
        for condition in rule["conditions"]:
            if condition["field"].startswith("data."):
                assert condition["field"].removeprefix("data.") in fields, (rule["name"], condition["field"])


# --- subscriptions are checked at startup --------------------------------------------------------------

def test_every_installed_handler_listens_to_a_declared_event():
    assert [e for e in run_checks() if e.id == "crm.E101"] == []


def test_a_handler_on_an_undeclared_event_fails_the_system_check(handlers):
    handlers.subscribe("kyc.aproved")(nothing)

    [error] = [e for e in run_checks() if e.id == "crm.E101"]

    assert "kyc.aproved" in error.msg
    assert "tests.crm.test_event_catalogue.nothing" in error.msg


# --- the administrators' page ---------------------------------------------------------------------------

@pytest.fixture
def rules(db):
    brand = make_brand(name="Alpha Markets")
    automation_rule_save(actor=None, brand=brand, name="Tell the owner about the FTD", trigger="wallet.first_deposit",
                         conditions=[], actions=[{"type": "notify", "who": "owner", "title": "FTD", "body": ""}])
    automation_rule_save(actor=None, brand=brand, name="Payout party", trigger="partner.payout_sent",
                         conditions=[], actions=[{"type": "notify", "who": "owner", "title": "Paid", "body": ""}])
    return brand


def test_administrators_see_every_event_with_its_payload_and_listeners(client, login_verified, rules):
    login_verified(client, make_user(role_code="admin"))

    response = client.get(reverse("event_catalogue"))

    assert response.status_code == 200
    page = response.content.decode()
    for name in ("client.created", "lead.routed", "trading.margin_call_entered", "kyc.approved", "wallet.first_deposit"):
        assert f'id="event-{name.replace(".", "")}"' in page
    row = page.split('id="event-walletfirst_deposit"')[1].split("</tr>")[0]
    assert "amount" in row and "decimal" in row and "currency" in row
    assert "Alpha Markets:" in row and "Tell the owner about the FTD" in row
    margin = page.split('id="event-tradingmargin_call_entered"')[1].split("</tr>")[0]
    assert "trading.handlers." in margin  # the dealers' alert handler
    assert "automation.subscriber.automation_on_event" in page  # every event goes to automation
    # A rule on an event nobody declares is called out.
    assert "partner.payout_sent" in page.split("not declared by any app")[1].split("</div>")[0]


@pytest.mark.parametrize("role_code", ["sales_agent", "desk_manager", "compliance"])
def test_the_catalogue_is_not_found_for_anyone_but_administrators(client, login_verified, db, role_code):
    login_verified(client, make_user(role_code=role_code))

    response = client.get(reverse("event_catalogue"))
    missing = client.get("/admin-tools/no-such-page/")

    assert response.status_code == missing.status_code == 404


def test_the_catalogue_is_in_the_administrators_menu(client, login_verified, db):
    login_verified(client, make_user(role_code="admin"))

    assert reverse("event_catalogue") in client.get(reverse("home")).content.decode()

"""The client's stage is a guarded state machine (crm.models.stages): ordinary moves for staff and the API,
verified / funded / active only through their proofs (KYC approval, first deposit, first trade), and an
administrator's override with a reason, audited. A refused move names itself and changes nothing."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from crm import events
from crm.events import emit
from crm.exceptions import NotAllowed, StageRefused, ValidationFailed
from crm.models import AuditLog, Client, Event, RoleCode, Stage
from crm.models.stages import CREATABLE_STAGES, ORDINARY_MOVES, stage_label
from crm.services import client_stage_change, client_stage_override, client_stage_prove
from tests import event_payloads as payloads
from tests.crm.api_support import KeyClient, assert_error, new_key, session_client
from tests.factories import client_reach_stage, make_brand, make_client, make_desk, make_user
from trading.event_types import FIRST_TRADE

pytestmark = pytest.mark.django_db

ALL_MOVES = [(old, new) for old in Stage.values for new in Stage.values if old != new]
ORDINARY = [(old, new) for old, new in ALL_MOVES if new in ORDINARY_MOVES[old]]
REFUSED = [(old, new) for old, new in ALL_MOVES if new not in ORDINARY_MOVES[old]]


@pytest.fixture
def world(db):
    brand = make_brand()
    desk = make_desk(brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    admin = make_user(role_code=RoleCode.ADMIN)
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)
    return SimpleNamespace(brand=brand, desk=desk, agent=agent, admin=admin, manager=manager)


def _at(world, stage: str) -> Client:
    return client_reach_stage(make_client(actor=world.agent, first_name="Amira", last_name="Haddad"), stage)


def _trail(client: Client) -> tuple[int, int]:
    return (Event.objects.filter(client=client, name="client.stage_changed").count(),
            AuditLog.objects.filter(object_id=str(client.code), action__startswith="client.stage").count())


def deliver() -> int:
    return events.dispatch_pending()


# --- the ordinary moves --------------------------------------------------------------------------


def test_the_map_leaves_proven_stages_to_their_proofs():
    assert ORDINARY and REFUSED
    assert not any(new in {Stage.VERIFIED, Stage.FUNDED, Stage.ACTIVE} for _old, new in ORDINARY)
    assert (Stage.FUNDED, Stage.LEAD) in REFUSED and (Stage.ACTIVE, Stage.REGISTERED) in REFUSED


@pytest.mark.parametrize(("old", "new"), ORDINARY)
def test_every_allowed_move_is_made_and_recorded(world, old, new):
    client = _at(world, old)
    events_before, audits_before = _trail(client)
    client_stage_change(actor=world.agent, client=client, stage=new, reason="asked by the client")
    client.refresh_from_db()
    assert client.stage == new
    event = Event.objects.filter(client=client, name="client.stage_changed").latest("id")
    assert event.data == {"from": old, "to": new, "reason": "asked by the client", "via": "move"}
    assert event.actor == world.agent
    assert _trail(client) == (events_before + 1, audits_before + 1)
    assert client.history.latest().stage == new


@pytest.mark.parametrize("old", Stage.values)
def test_every_refused_move_names_itself_and_changes_nothing(world, old):
    client = _at(world, old)
    stamp = client.stage_changed_at
    before = _trail(client)
    for new in [n for o, n in REFUSED if o == old]:
        with pytest.raises(StageRefused) as caught:
            client_stage_change(actor=world.agent, client=client, stage=new, reason="please")
        message = caught.value.message
        assert f"from {stage_label(old)} to {stage_label(new)}" in message, message
        assert caught.value.fields == {"stage": [message]}
        assert caught.value.status_code == 409 and caught.value.code == "stage_refused"
        client.refresh_from_db()
        assert (client.stage, client.stage_changed_at) == (old, stamp)
    assert _trail(client) == before


@pytest.mark.parametrize(("stage", "proof"), [("verified", "KYC approval"), ("funded", "first deposit"),
                                              ("active", "first trade")])
def test_a_proven_stage_set_by_hand_says_which_proof_makes_it(world, stage, proof):
    client = _at(world, Stage.LEAD)
    with pytest.raises(StageRefused) as caught:
        client_stage_change(actor=world.admin, client=client, stage=stage)
    assert proof in caught.value.message


def test_nothing_goes_back_from_funded_to_lead_except_by_override(world):
    client = _at(world, Stage.FUNDED)
    with pytest.raises(StageRefused) as caught:
        client_stage_change(actor=world.admin, client=client, stage=Stage.LEAD, reason="mistake")
    assert "override" in caught.value.message
    client.refresh_from_db()
    assert client.stage == Stage.FUNDED


def test_a_client_is_created_only_at_the_start_of_the_funnel(world):
    for stage in CREATABLE_STAGES:
        assert make_client(actor=world.agent, stage=stage).stage == stage
    from crm.services import client_create

    count = Client.objects.count()
    with pytest.raises(StageRefused) as caught:
        client_create(actor=world.agent, brand=world.brand, first_name="Rich", stage=Stage.FUNDED)
    assert "first deposit" in caught.value.message
    assert Client.objects.count() == count


# --- the API ---------------------------------------------------------------------------------------


def test_an_api_key_cannot_set_funded_and_gets_409_naming_the_move(world):
    client = _at(world, Stage.REGISTERED)
    api = KeyClient(new_key(world.brand))
    before = _trail(client)
    body = assert_error(api.patch(f"/clients/{client.code}", {"stage": "funded"}), 409, "stage_refused")
    assert "from Registered to Funded" in body["message"] and body["fields"]["stage"] == [body["message"]]
    client.refresh_from_db()
    assert client.stage == Stage.REGISTERED and _trail(client) == before
    # An ordinary move through the same operation still works.
    assert api.patch(f"/clients/{client.code}", {"stage": "closed"}).status_code == 200


def test_a_staff_session_cannot_set_verified_through_the_api_either(world):
    client = _at(world, Stage.REGISTERED)
    response = session_client(world.agent).patch(f"/api/v1/clients/{client.code}", json.dumps({"stage": "verified"}),
                                                 content_type="application/json")
    assert_error(response, 409, "stage_refused")
    client.refresh_from_db()
    assert client.stage == Stage.REGISTERED


# --- the proofs ----------------------------------------------------------------------------------


def test_kyc_approval_makes_the_client_verified(world):
    client = _at(world, Stage.REGISTERED)
    emit("kyc.approved", client=client, actor=world.admin, data=payloads.kyc_approved(reviewer=world.admin))
    deliver()
    client.refresh_from_db()
    assert client.stage == Stage.VERIFIED
    event = Event.objects.filter(client=client, name="client.stage_changed").latest("id")
    assert (event.data["from"], event.data["to"], event.data["via"]) == ("registered", "verified", "kyc.approved")
    audit = AuditLog.objects.filter(object_id=str(client.code), action="client.stage_prove").latest("id")
    assert audit.after["evidence"]["level"] == "full"


def test_the_first_deposit_makes_the_client_funded(world):
    client = _at(world, Stage.VERIFIED)
    emit("wallet.first_deposit", client=client, data=payloads.first_deposit(amount="250.00", currency="USD"))
    deliver()
    client.refresh_from_db()
    assert client.stage == Stage.FUNDED
    assert Event.objects.filter(client=client, name="client.stage_changed", data__to="funded",
                                data__via="wallet.first_deposit").exists()


def test_a_proof_never_moves_a_client_back_nor_reopens_one(world):
    active = _at(world, Stage.ACTIVE)
    closed = _at(world, Stage.CLOSED)
    before = (_trail(active), _trail(closed))
    emit("kyc.approved", client=active, data=payloads.kyc_approved())
    emit("wallet.first_deposit", client=closed, data=payloads.first_deposit(amount="10.00", currency="USD"))
    deliver()
    active.refresh_from_db()
    closed.refresh_from_db()
    assert (active.stage, closed.stage) == (Stage.ACTIVE, Stage.CLOSED)
    assert (_trail(active), _trail(closed)) == before


def test_a_first_trade_brings_a_dormant_client_back_to_active(world):
    client = _at(world, Stage.DORMANT)
    client_stage_prove(client=client, proof=FIRST_TRADE)
    assert client.stage == Stage.ACTIVE


# --- the override --------------------------------------------------------------------------------


def test_only_an_administrator_overrides(world):
    client = _at(world, Stage.FUNDED)
    for actor in (world.agent, world.manager):
        with pytest.raises(NotAllowed):
            client_stage_override(actor=actor, client=client, stage=Stage.LEAD, reason="mistake")
    client.refresh_from_db()
    assert client.stage == Stage.FUNDED


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_override_needs_a_reason(world, reason):
    client = _at(world, Stage.FUNDED)
    before = _trail(client)
    with pytest.raises(ValidationFailed) as caught:
        client_stage_override(actor=world.admin, client=client, stage=Stage.LEAD, reason=reason)
    assert list(caught.value.fields) == ["reason"]
    client.refresh_from_db()
    assert client.stage == Stage.FUNDED and _trail(client) == before


def test_an_override_moves_anywhere_and_is_audited_with_its_reason(world):
    client = _at(world, Stage.FUNDED)
    client_stage_override(actor=world.admin, client=client, stage=Stage.LEAD, reason="deposit was a test payment")
    client.refresh_from_db()
    assert client.stage == Stage.LEAD
    audit = AuditLog.objects.filter(object_id=str(client.code), action="client.stage_override").get()
    assert (audit.before, audit.after["stage"], audit.reason) == ({"stage": "funded"}, "lead",
                                                                  "deposit was a test payment")
    assert audit.actor_id == world.admin.pk
    event = Event.objects.filter(client=client, name="client.stage_changed").latest("id")
    assert event.data == {"from": "funded", "to": "lead", "reason": "deposit was a test payment", "via": "override"}


# --- what proves a stage: registered by the apps -----------------------------------------------------


def test_the_apps_register_what_proves_each_stage_and_the_core_names_none_of_them():
    from pathlib import Path

    from crm.models import stages

    proven = {stage: proof.proof.value for stage, proof in stages.PROVEN_STAGES.items()}
    assert proven == {Stage.VERIFIED: "kyc.approved", Stage.FUNDED: "wallet.first_deposit",
                      Stage.ACTIVE: "trading.first_trade"}
    core = Path(stages.__file__).read_text() + (Path(stages.__file__).parents[1] / "selectors.py").read_text()
    assert not [name for name in proven.values() if name in core]
    # The machine's routes are read from the registry: each proof's, and the override's.
    assert set(stages.CLIENT_STAGES.routes) == {*proven.values(), stages.OVERRIDE}


def test_a_stage_already_proven_by_one_event_refuses_a_second(monkeypatch):
    from crm.models import stages

    monkeypatch.setattr(stages, "PROOFS", dict(stages.PROOFS))
    monkeypatch.setattr(stages, "PROVEN_STAGES", dict(stages.PROVEN_STAGES))
    with pytest.raises(ValueError, match="already proven"):
        stages.register_stage_proof(stage=Stage.FUNDED, event_type="wallet.other_deposit", label="other",
                                    sources=frozenset({Stage.LEAD}))


def test_a_proof_nobody_registered_moves_nobody(world):
    client = _at(world, Stage.REGISTERED)
    with pytest.raises(ValidationFailed):
        client_stage_prove(client=client, proof="leads.called")
    client.refresh_from_db()
    assert client.stage == Stage.REGISTERED

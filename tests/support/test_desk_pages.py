"""The support desk's staff pages: the queue (scope, filters, order by SLA due, htmx partial), a ticket
(answer with a canned answer, note, assign, status, merge, link a client; compliance's notes hidden
from sales), attachments, the desks' setup pages, and the client profile's Tickets tab. Each object
page is checked three ways: who works the ticket, a colleague who does not see its client, and an
outsider (another brand)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from crm.models import RoleCode
from support import services
from support.models import MessageKind, Ticket, TicketStatus
from tests.factories import make_brand, make_client, make_user
from tests.support.desk_world import build_desk_world, open_ticket, png_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_desk_world()


@pytest.fixture
def as_user(client, login_verified):
    def sign_in(user):
        client.logout()
        login_verified(client, user)
        return client

    return sign_in


def test_the_queue_shows_what_the_user_sees_soonest_due_first(world, as_user):
    with time_machine.travel(dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC), tick=False):
        later = open_ticket(world, subject="Normal one")
        sooner = open_ticket(world, subject="Urgent one", priority="urgent")
    other_client = make_client(brand=world.brand, email="o@example.com", owner=world.other_sales)
    theirs = open_ticket(world, client=other_client, subject="Not yours")
    page = as_user(world.agent).get(reverse("support_queue"))
    body = page.content.decode()
    assert page.status_code == 200
    assert body.index(sooner.reference) < body.index(later.reference) and theirs.reference in body
    sales_page = as_user(world.sales).get(reverse("support_queue")).content.decode()
    assert later.reference in sales_page and theirs.reference not in sales_page
    outsider = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=make_brand())
    assert later.reference not in as_user(outsider).get(reverse("support_queue")).content.decode()


def test_the_queue_filters_and_answers_htmx_with_the_rows_only(world, as_user):
    urgent = open_ticket(world, priority="urgent", category="deposit")
    normal = open_ticket(world)
    http = as_user(world.agent)
    page = http.get(reverse("support_queue"), {"priority": "urgent"}, HTTP_HX_REQUEST="true")
    body = page.content.decode()
    assert urgent.reference in body and normal.reference not in body and "<html" not in body
    assert "data-ticket-filters" not in body
    mine = http.get(reverse("support_queue"), {"assignee": "me"}).content.decode()
    assert urgent.reference not in mine


def test_the_queue_filters_missed_slas(world, as_user):
    with time_machine.travel(dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC), tick=False):
        late = open_ticket(world, subject="Late")
    with time_machine.travel(dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC), tick=False):
        fresh = open_ticket(world, subject="Fresh")
        body = as_user(world.agent).get(reverse("support_queue"), {"breached": "on"}).content.decode()
    assert late.reference in body and fresh.reference not in body


def test_a_ticket_page_three_ways(world, as_user):
    ticket = open_ticket(world)
    url = reverse("support_ticket", args=[ticket.reference])
    assert as_user(world.agent).get(url).status_code == 200
    assert as_user(world.sales).get(url).status_code == 200  # the client's owner
    assert as_user(world.other_sales).get(url).status_code == 404  # a colleague: not their client
    outsider = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=make_brand())
    assert as_user(outsider).get(url).status_code == 404
    assert as_user(world.agent).get(reverse("support_ticket", args=["T999999"])).status_code == 404
    dealer = make_user(role_code=RoleCode.DEALER, brand=world.brand)
    assert as_user(dealer).get(url).status_code == 404


def test_an_agent_answers_with_a_canned_answer_in_the_clients_language(world, as_user):
    answer = services.canned_answer_save(actor=world.admin, brand=world.brand, language="en", title="Received",
                                         body="Dear {first_name}, {reference} is on its way. {agent_name}")
    ticket = open_ticket(world)
    http = as_user(world.agent)
    filled = http.get(reverse("support_ticket_canned", args=[ticket.reference]), {"canned": answer.pk},
                      HTTP_HX_REQUEST="true").content.decode()
    assert f"Dear Laura, {ticket.reference} is on its way. Sam Support" in filled
    response = http.post(reverse("support_ticket_action", args=[ticket.reference, "reply"]), {
        "body": f"Dear Laura, {ticket.reference} is on its way.", "status": "pending_client", "canned": answer.pk,
        "attachments": [png_file("proof.png")]})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PENDING_CLIENT and ticket.first_response_at is not None
    reply = ticket.messages.get(kind=MessageKind.STAFF_REPLY)
    [file] = reply.attachments.all()
    download = http.get(reverse("support_ticket_attachment", args=[ticket.reference, file.code]))
    assert download.status_code == 200 and download.content.startswith(b"\x89PNG")
    assert as_user(world.other_sales).get(
        reverse("support_ticket_attachment", args=[ticket.reference, file.code])).status_code == 404


def test_an_empty_answer_is_refused_on_its_field(world, as_user):
    ticket = open_ticket(world)
    response = as_user(world.agent).post(reverse("support_ticket_action", args=[ticket.reference, "reply"]),
                                         {"body": "", "status": "pending_client"})
    assert response.status_code == 400 and ticket.messages.count() == 1


def test_notes_assign_status_merge_and_link_through_the_page(world, as_user):
    ticket = open_ticket(world)
    other = open_ticket(world, subject="Same problem")
    stray = open_ticket(world, client=False, channel="email")
    http = as_user(world.agent)
    act = lambda t, action, data: http.post(reverse("support_ticket_action", args=[t.reference, action]), data)  # noqa: E731
    assert act(ticket, "note", {"body": "PSP says pending"}).status_code == 302
    assert act(ticket, "assign", {"assignee": str(world.sales.code)}).status_code == 302
    assert act(ticket, "status", {"status": "on_hold", "reason": "waiting PSP"}).status_code == 302
    assert act(other, "merge", {"into": ticket.reference}).status_code == 302
    assert act(stray, "link", {"client": str(world.client.code)}).status_code == 302
    ticket.refresh_from_db(), other.refresh_from_db(), stray.refresh_from_db()
    assert ticket.assignee == world.sales and ticket.status == TicketStatus.ON_HOLD
    assert other.status == TicketStatus.MERGED and stray.client == world.client
    assert act(ticket, "merge", {"into": "T000000"}).status_code == 400
    assert act(ticket, "status", {"status": "merged"}).status_code == 400


def test_the_sales_floor_works_its_clients_tickets_but_not_others(world, as_user):
    ticket = open_ticket(world)
    http = as_user(world.other_sales)
    response = http.post(reverse("support_ticket_action", args=[ticket.reference, "note"]), {"body": "x"})
    assert response.status_code == 404
    finance = make_user(role_code=RoleCode.FINANCE, brand=world.brand)
    assert as_user(finance).post(reverse("support_ticket_action", args=[ticket.reference, "note"]),
                                 {"body": "x"}).status_code == 404


def test_compliance_notes_are_hidden_from_the_sales_floor(world, as_user):
    ticket = open_ticket(world)
    services.ticket_mark_sensitive(ticket=ticket, sensitive=True, actor=world.officer)
    services.ticket_note(ticket=ticket, actor=world.officer, body="Screening hit under review: hold the payout.")
    url = reverse("support_ticket", args=[ticket.reference])
    assert "Screening hit" in as_user(world.officer).get(url).content.decode()
    sales_view = as_user(world.sales).get(url).content.decode()
    assert "Screening hit" not in sales_view and "data-notes-hidden" in sales_view
    with pytest.raises(Exception, match="compliance"):
        services.ticket_mark_sensitive(ticket=ticket, sensitive=False, actor=world.agent)


def test_the_clients_profile_has_a_tickets_tab(world, as_user):
    ticket = open_ticket(world)
    page = as_user(world.agent).get(reverse("client_detail", args=[world.client.code]), {"tab": "tickets"})
    assert page.status_code == 200 and ticket.reference in page.content.decode()


def test_desk_setup_pages_for_who_manages_desks(world, as_user):
    http = as_user(world.manager)
    assert http.get(reverse("support_desks")).status_code == 200
    response = http.post(reverse("support_desks"), {
        "brand": world.brand.pk, "name": "VIP desk", "code": "vip", "time_zone": "Europe/London",
        "business_hours": '{"mon": [["08:00", "20:00"]]}', "support_address": "vip@helios.example.com",
        "active": "on"})
    assert response.status_code == 302
    bad = http.post(reverse("support_desks"), {
        "brand": world.brand.pk, "name": "Bad", "code": "bad", "time_zone": "Nowhere/City",
        "business_hours": '{"mon": [["08:00", "20:00"]]}'})
    assert bad.status_code == 400 and "IANA" in bad.content.decode()
    url = reverse("support_desk", args=[world.desk.pk])
    assert http.get(url).status_code == 200
    assert http.post(url, {"form": "holiday", "day": "2026-12-25", "name": "Christmas"}).status_code == 302
    assert http.post(url, {"form": "policy", "priority": "high", "first_response_minutes": 30,
                           "resolution_minutes": 240, "warn_before_minutes": 10}).status_code == 302
    assert http.post(url, {"form": "rule", "order": 5, "language": "de", "category": "",
                           "assignee": str(world.agent.code)}).status_code == 302
    assert http.post(url, {"form": "rule", "order": 5}).status_code == 400  # nobody to give tickets to
    assert http.post(reverse("support_canned"), {
        "brand": world.brand.pk, "language": "de", "title": "Eingang", "body": "Hallo {first_name}",
        "active": "on"}).status_code == 302
    for user in (world.agent, world.sales):
        assert as_user(user).get(reverse("support_desks")).status_code == 404
    outsider = make_user(role_code=RoleCode.DESK_MANAGER, brand=make_brand())
    assert as_user(outsider).get(url).status_code == 404


def test_a_ticket_opened_by_email_without_a_client_waits_for_the_desk(world, as_user):
    ticket = open_ticket(world, client=False, channel="email")
    assert Ticket.objects.get(pk=ticket.pk).client is None
    assert ticket.reference in as_user(world.agent).get(reverse("support_queue")).content.decode()
    assert ticket.reference not in as_user(world.sales).get(reverse("support_queue")).content.decode()


def test_the_queues_queries_do_not_grow_with_its_rows(world, as_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    http = as_user(world.agent)
    http.get(reverse("support_queue"))  # the session's first page reads the user's permissions once
    counts = []
    for n in (2, 6):
        while Ticket.objects.count() < n:
            open_ticket(world, client=make_client(brand=world.brand, email=f"q{Ticket.objects.count()}@example.com"))
        with CaptureQueriesContext(connection) as queries:
            assert http.get(reverse("support_queue")).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts

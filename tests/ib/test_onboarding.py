"""Onboarding a partner without a developer: the public application and the IB manager's queue,
partners added or invited by staff, sub-partners invited from the portal within the plan, and
links with QR codes made by the manager and by the partner."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.fieldcrypt import keyed_hashes
from crm.models import AuditLog, Event
from ib import commissions as cs
from ib import onboarding, tasks
from ib.exceptions import Conflict, NotAllowed, NotFound, PartnerLoginThrottled, ValidationFailed
from ib.models import ApplicationStatus, JoinedVia, PartnerLogin, PartnerStatus, PlanAssignment, TrackingLink
from tests.factories import make_brand, make_user

PASSWORD = "Copper-Meadow-8315"  # noqa: S105 - test passwords


def application_data(**overrides):
    data = {"company": "Gulf Traders LLC", "website": "gulftraders.example", "expected_clients": 25,
            "countries": ["AE", "SA"], "marketing_methods": ["social", "education"],
            "contact_name": "Layla Nasser", "contact_email": "layla@gulftraders.example",
            "contact_phone": "+971 50 123 4567", "agree": True}
    return data | overrides


def apply(brand, **overrides):
    return onboarding.partner_application_submit(brand=brand, ip="203.0.113.9", **application_data(**overrides))


def run_mail_tasks(callbacks):
    """Run what the commit queued, each mail task's own body instead of the broker."""
    with pytest.MonkeyPatch.context() as mp:
        for task in (tasks.partner_welcome_mail, tasks.partner_invitation_mail, tasks.partner_application_rejected_mail):
            mp.setattr(task, "delay", task)
        for callback in callbacks:
            callback()


@pytest.fixture
def world(ib, settings):
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    settings.PARTNER_APPLY_RATE_LIMIT = "1000/m"
    ib.plan = cs.plan_create(actor=ib.manager, brand=ib.brand, name="Standard", currency="USD")
    return ib


def test_an_application_is_approved_with_a_plan_and_the_partner_sets_its_password_from_the_mail(
        world, django_capture_on_commit_callbacks):
    application = apply(world.brand)
    assert application.status == ApplicationStatus.PENDING
    assert application.countries == ["AE", "SA"] and application.contact_phone == "+971501234567"
    assert application.website == "https://gulftraders.example"

    with django_capture_on_commit_callbacks() as callbacks:
        partner = onboarding.application_approve(actor=world.manager, application=application, plan=world.plan,
                                                 parent=world.master)
    run_mail_tasks(callbacks)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED and application.partner == partner
    assert partner.status == PartnerStatus.ACTIVE and partner.joined_via == JoinedVia.APPLICATION
    assert partner.parent == world.master and partner.path == [world.master.pk, partner.pk]
    assert PlanAssignment.objects.get(partner=partner, effective_to__isnull=True).plan == world.plan
    assert AuditLog.objects.filter(action="ib.application_approved", actor=world.manager).count() == 1
    assert set(Event.objects.filter(name__in=["ib.partner_application_received", "ib.partner_application_decided",
                                              "ib.partner_approved"]).values_list("name", flat=True)) == {
        "ib.partner_application_received", "ib.partner_application_decided", "ib.partner_approved"}

    [message] = mail.outbox
    assert message.to == ["layla@gulftraders.example"] and world.brand.name in message.subject
    [path] = re.findall(r"https://crm\.example\.com(/partners/password/reset/\S+/)", message.body)
    http = HttpClient()
    assert http.post(f"/partners/{world.brand.code}/login/",
                     {"email": "layla@gulftraders.example", "password": PASSWORD}).status_code == 400
    # The welcome link asks for a first password, not for "a new password" (issue 58's walk).
    page = http.get(path).content.decode()
    assert "Choose your password" in page and "Welcome, " in page and "Set a new password" not in page
    done = http.post(path, {"password": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 200 and "Your password is set" in done.content.decode()
    assert "Your new password" not in done.content.decode()
    signed_in = http.post(f"/partners/{world.brand.code}/login/",
                          {"email": "layla@gulftraders.example", "password": PASSWORD})
    assert signed_in.status_code == 302 and http.get("/partners/").status_code == 200


def test_bad_input_is_refused_naming_every_field(world):
    with pytest.raises(ValidationFailed) as caught:
        apply(world.brand, company=" ", contact_email="not-an-address", contact_phone="12", expected_clients=0,
              countries=["XX"], marketing_methods=["spam"], agree=False, website="not a site")
    assert set(caught.value.fields) == {"company", "contact_email", "contact_phone", "expected_clients", "countries",
                                        "marketing_methods", "agree", "website"}
    with pytest.raises(ValidationFailed) as caught:
        apply(world.brand, countries=[], marketing_methods=[], expected_clients=None)
    assert caught.value.fields["countries"] == ["Choose at least one country where you find clients."]
    assert caught.value.fields["expected_clients"] == ["Say how many clients a month you expect to bring."]


def test_a_second_application_from_one_address_is_refused_until_the_first_is_rejected(
        world, django_capture_on_commit_callbacks):
    first = apply(world.brand)
    with pytest.raises(ValidationFailed) as caught:
        apply(world.brand, contact_email="LAYLA@gulftraders.example", company="Other name")
    assert "already waiting for review" in caught.value.fields["contact_email"][0]

    with pytest.raises(ValidationFailed):
        onboarding.application_reject(actor=world.manager, application=first, reason="  ")
    with django_capture_on_commit_callbacks() as callbacks:
        onboarding.application_reject(actor=world.manager, application=first, reason="No licence for the UAE yet.")
    run_mail_tasks(callbacks)
    [message] = mail.outbox
    assert "No licence for the UAE yet." in message.body and f"/partners/{world.brand.code}/apply/" in message.body
    with pytest.raises(Conflict):
        onboarding.application_approve(actor=world.manager, application=first, plan=world.plan)

    again = apply(world.brand, company="Gulf Traders (licensed)")
    assert again.pk != first.pk and again.status == ApplicationStatus.PENDING
    onboarding.application_approve(actor=world.manager, application=again, plan=world.plan)
    # Now a partner: a new application from the address is pointed to the sign-in.
    with pytest.raises(ValidationFailed) as caught:
        apply(world.brand)
    assert "already exists" in caught.value.fields["contact_email"][0]
    assert AuditLog.objects.filter(action="ib.application_rejected", reason="No licence for the UAE yet.").exists()


def test_an_ib_manager_of_another_brand_neither_sees_nor_decides_the_application(world):
    application = apply(world.brand)
    other_brand = make_brand()
    outsider = make_user(role_code="ib_manager", brand=other_brand)
    with pytest.raises(NotFound):
        onboarding.application_approve(actor=outsider, application=application, plan=world.plan)
    with pytest.raises(NotFound):
        onboarding.application_reject(actor=outsider, application=application, reason="not ours")
    with pytest.raises(NotAllowed):
        onboarding.application_approve(actor=world.agent, application=application, plan=world.plan)
    # A plan of another brand is refused even to the right manager.
    foreign_plan = cs.plan_create(actor=None, brand=other_brand, name="Foreign", currency="USD")
    with pytest.raises(ValidationFailed) as caught:
        onboarding.application_approve(actor=world.manager, application=application, plan=foreign_plan)
    assert "plan" in caught.value.fields

    http = HttpClient()
    http.force_login(outsider)
    assert application.company not in http.get(reverse("ib_application_list")).content.decode()
    assert http.get(reverse("ib_application_detail", args=[application.code])).status_code == 404
    refused = http.post(reverse("ib_application_approve", args=[application.code]), {"plan": str(world.plan.code)})
    assert refused.status_code == 404
    http.force_login(world.manager)
    page = http.get(reverse("ib_application_list")).content.decode()
    assert application.company in page and "United Arab Emirates" in page and "Saudi Arabia" in page
    application.refresh_from_db()
    assert application.status == ApplicationStatus.PENDING


def test_the_public_form_takes_an_application_and_the_manager_approves_it_in_the_queue(
        world, django_capture_on_commit_callbacks, settings):
    http = HttpClient()
    url = reverse("partners:apply", args=[world.brand.code])
    page = http.get(url)
    assert page.status_code == 200 and "United Arab Emirates" in page.content.decode()
    form = application_data(countries=["AE", "GB"], marketing_methods=["website"], kind="ib")
    missing = http.post(url, {**form, "agree": ""})
    assert missing.status_code == 400 and "Accept the partner agreement to apply." in missing.content.decode()
    # an empty form names every missing answer at once, the agreement among them (not on a second try)
    empty = http.post(url, {"company": ""}).content.decode()
    assert "Accept the partner agreement to apply." in empty and "This field is required." in empty
    sent = http.post(url, {**form, "agree": "on"})
    assert sent.status_code == 200 and "Thank you for applying" in sent.content.decode()
    application = onboarding.PartnerApplication.objects.get(
        contact_email_hash__in=keyed_hashes("layla@gulftraders.example", kind="email"))
    assert application.countries == ["AE", "GB"]

    staff = HttpClient()
    staff.force_login(world.manager)
    detail = staff.get(reverse("ib_application_detail", args=[application.code])).content.decode()
    assert "United Arab Emirates, United Kingdom" in detail
    no_plan = staff.post(reverse("ib_application_approve", args=[application.code]), {"plan": ""})
    assert no_plan.status_code == 400 and "Choose the plan the partner earns under." in no_plan.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        done = staff.post(reverse("ib_application_approve", args=[application.code]),
                          {"plan": str(world.plan.code), "parent": str(world.master.code)})
    assert done.status_code == 302
    run_mail_tasks(callbacks)
    assert len(mail.outbox) == 1

    settings.PARTNER_APPLY_RATE_LIMIT = "1/h"
    http.post(url, {**form, "contact_email": "x@a.example", "agree": "on"})
    limited = http.post(url, {**form, "contact_email": "y@a.example", "agree": "on"})
    assert limited.status_code == 429
    apply(world.brand, contact_email="z@a.example")  # another network has its own budget
    with pytest.raises(PartnerLoginThrottled):
        apply(world.brand, contact_email="w@a.example")


def test_the_manager_adds_a_partner_with_a_login_or_invites_one_who_sets_a_password(
        world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        added = onboarding.partner_onboard(actor=world.manager, brand=world.brand, display_name="Desert Signals",
                                           email="desk@signals.example", plan=world.plan)
    run_mail_tasks(callbacks)
    assert added.status == PartnerStatus.ACTIVE and PartnerLogin.objects.filter(partner=added).exists()
    assert PlanAssignment.objects.get(partner=added).plan == world.plan
    assert "/partners/password/reset/" in mail.outbox[-1].body
    with pytest.raises(ValidationFailed) as caught:
        onboarding.partner_onboard(actor=world.manager, brand=world.brand, display_name="Again",
                                   email="DESK@signals.example")
    assert "email" in caught.value.fields

    with django_capture_on_commit_callbacks() as callbacks:
        invitation = onboarding.partner_invite_send(actor=world.manager, brand=world.brand,
                                                    email="new@ib.example", plan=world.plan)
    run_mail_tasks(callbacks)
    [path] = re.findall(r"https://crm\.example\.com(/partners/join/\S+/)", mail.outbox[-1].body)
    with pytest.raises(ValidationFailed):  # one open invitation per address
        onboarding.partner_invite_send(actor=world.manager, brand=world.brand, email="new@ib.example")
    http = HttpClient()
    assert http.get(path).status_code == 200
    weak = http.post(path, {"display_name": "New IB", "password": "password", "password2": "password"})
    assert weak.status_code == 400
    joined = http.post(path, {"display_name": "New IB", "password": PASSWORD, "password2": PASSWORD})
    assert joined.status_code == 200 and "Your partner account is ready" in joined.content.decode()
    invitation.refresh_from_db()
    assert invitation.partner.display_name == "New IB" and invitation.partner.joined_via == JoinedVia.INVITATION
    assert PlanAssignment.objects.get(partner=invitation.partner).plan == world.plan
    assert http.get(path).status_code == 404  # used once


def test_a_partner_invites_sub_partners_only_within_its_plan(world, django_capture_on_commit_callbacks):
    with pytest.raises(NotAllowed):  # no plan at all
        onboarding.sub_partner_invite(partner=world.sub_b, email="one@ib.example")
    cs.plan_assign(actor=world.manager, plan=world.plan, partner=world.sub_b,
                   effective_from=world.sub_b.created_at)
    with pytest.raises(NotAllowed) as caught:  # a plan allows none by default
        onboarding.sub_partner_invite(partner=world.sub_b, email="one@ib.example")
    assert "does not include sub-partners" in caught.value.message
    onboarding.plan_sub_partners_set(actor=world.manager, plan=world.plan, max_sub_partners=1)
    with django_capture_on_commit_callbacks() as callbacks:
        invitation = onboarding.sub_partner_invite(partner=world.sub_b, email="one@ib.example")
    run_mail_tasks(callbacks)
    assert invitation.parent == world.sub_b and world.sub_b.display_name in mail.outbox[-1].body
    with pytest.raises(NotAllowed) as caught:
        onboarding.sub_partner_invite(partner=world.sub_b, email="two@ib.example")
    assert "allows 1 sub-partners" in caught.value.message

    token = onboarding.invitation_token(invitation)
    child = onboarding.invitation_accept(token=token, display_name="Child IB", password=PASSWORD)
    assert child.parent == world.sub_b and child.path == [*world.sub_b.path, child.pk]
    assert PlanAssignment.objects.get(partner=child).plan == world.plan  # the parent's plan

    http = HttpClient()
    http.post(f"/partners/{world.brand.code}/login/", {"email": "child@x", "password": "-"})
    world.services.partner_login_set_password(partner=world.sub_b, password=PASSWORD)
    http.post(f"/partners/{world.brand.code}/login/", {"email": world.sub_b.contact_email, "password": PASSWORD})
    page = http.get(reverse("partners:network")).content.decode()
    assert "Your plan allows 1 sub-partners; you have 1" in page
    refused = http.post(reverse("partners:sub_partner_invite"), {"email": "three@ib.example"})
    assert refused.status_code == 400 and "allows 1 sub-partners" in refused.content.decode()


def test_links_with_qr_codes_are_made_by_the_manager_and_by_the_partner(world, settings):
    staff = HttpClient()
    staff.force_login(world.manager)
    made = staff.post(reverse("ib_partner_link_new", args=[world.master.code]),
                      {"kind": "link", "campaign": "Ramadan", "landing_url": f"/portal/{world.brand.code}/register/"})
    assert made.status_code == 302
    link = TrackingLink.objects.get(partner=world.master, campaign="Ramadan")
    page = staff.get(reverse("ib_partner_detail", args=[world.master.code])).content.decode()
    assert f"https://crm.example.com/r/{link.code}/" in page
    png = staff.get(reverse("ib_link_qr", args=[link.code, "png"]))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    bad = staff.post(reverse("ib_partner_link_new", args=[world.master.code]),
                     {"kind": "link", "campaign": "x", "landing_url": "https://evil.example/"})
    assert bad.status_code == 302 and TrackingLink.objects.filter(partner=world.master).count() == 1
    outsider = HttpClient()
    outsider.force_login(make_user(role_code="ib_manager", brand=make_brand()))
    assert outsider.post(reverse("ib_partner_link_new", args=[world.master.code]),
                         {"kind": "code", "campaign": "x"}).status_code == 404

    world.services.partner_login_set_password(partner=world.sub_a, password=PASSWORD)
    http = HttpClient()
    http.post(f"/partners/{world.brand.code}/login/", {"email": world.sub_a.contact_email, "password": PASSWORD})
    form = http.get(reverse("partners:links")).content.decode()
    assert f"/portal/{world.brand.code}/register/" in form  # the registration, suggested
    created = http.post(reverse("partners:links"), {"kind": "link", "campaign": "Telegram",
                                                     "landing_url": f"/portal/{world.brand.code}/register/"})
    assert created.status_code == 302
    mine = TrackingLink.objects.get(partner=world.sub_a, campaign="Telegram")
    listing = http.get(reverse("partners:links")).content.decode()
    assert mine.click_url in listing and mine.click_url.startswith("https://crm.example.com/r/")
    svg = http.get(reverse("partners:link_qr", args=[mine.code, "svg"]))
    assert svg.status_code == 200 and b"<svg" in svg.content
    code = http.post(reverse("partners:links"), {"kind": "code", "campaign": "Flyers", "code": "sub-a-2026"})
    assert code.status_code == 302 and TrackingLink.objects.filter(partner=world.sub_a, code="sub-a-2026").exists()
    taken = http.post(reverse("partners:links"), {"kind": "code", "campaign": "Again", "code": "sub-a-2026"})
    assert taken.status_code == 400 and "This code is taken." in taken.content.decode()
    # Another partner's link is none of this partner's business.
    assert http.get(reverse("partners:link_qr", args=[link.code, "svg"])).status_code == 404


def test_a_client_registering_through_a_partners_new_link_is_attributed_to_it(world):
    from ib.services import attribution_from_registration, click_log
    from tests.factories import make_client

    link = world.services.tracking_link_create(partner=world.sub_a, by_partner=True, campaign="Telegram",
                                               landing_url=f"/portal/{world.brand.code}/register/")
    click = click_log(code=link.code, ip="198.51.100.7", user_agent="Mozilla/5.0 (X11; Linux) Firefox/140.0")
    assert f"ref={link.code}" in click.target and click.click is not None
    client = make_client(brand=world.brand)
    attribution = attribution_from_registration(client=client, referrer_code=link.code, click_id=click.click)
    assert attribution.partner == world.sub_a and attribution.link_id == link.pk and attribution.source == "link"


def test_the_ib_manager_sets_how_many_sub_partners_a_plan_allows(world):
    http = HttpClient()
    http.force_login(world.manager)
    url = reverse("ib_plan_sub_partners", args=[world.plan.code])
    assert http.post(url, {"max_sub_partners": "3"}).status_code == 302
    world.plan.refresh_from_db()
    assert world.plan.max_sub_partners == 3
    http.post(url, {"max_sub_partners": "-1"})
    world.plan.refresh_from_db()
    assert world.plan.max_sub_partners == 3
    http.post(url, {"max_sub_partners": ""})
    world.plan.refresh_from_db()
    assert world.plan.max_sub_partners is None
    outsider = HttpClient()
    outsider.force_login(make_user(role_code="ib_manager", brand=make_brand()))
    assert outsider.post(url, {"max_sub_partners": "9"}).status_code == 404
    assert AuditLog.objects.filter(action="ib.plan_sub_partners_set").count() == 2


@pytest.mark.parametrize("field", ["company", "contact_name"])
@pytest.mark.parametrize("control", ["\u202e", "\u2067", "\u200f"], ids=["override", "isolate", "mark"])
def test_a_name_with_a_direction_control_is_refused_by_name_and_nothing_is_stored(world, field, control):
    # U+202E showed "Gulf Traders" as "sredarT fluG" in the IB manager's queue.
    with pytest.raises(ValidationFailed) as refused:
        apply(world.brand, **{field: f"{control}Gulf Traders"})
    assert "direction control" in refused.value.fields[field][0]
    with pytest.raises(ValidationFailed) as refused:
        onboarding.partner_onboard(actor=world.manager, brand=world.brand, display_name=f"Desert{control} Signals",
                                   email="desk@signals.example", plan=world.plan)
    assert "display_name" in refused.value.fields
    assert not onboarding.PartnerApplication.objects.exists()


def test_only_applications_taken_count_towards_the_per_address_limit(world, settings):
    import uuid

    settings.PARTNER_APPLY_RATE_LIMIT = "2/h"
    ip = f"test-{uuid.uuid4()}"  # a budget of this test's own

    def submit(n, **overrides):
        return onboarding.partner_application_submit(brand=world.brand, ip=ip, **application_data(
            contact_email=f"p{n}@apply.example", **overrides))

    for n in range(4):  # a person correcting their answers is not throttled
        with pytest.raises(ValidationFailed):
            submit(n, agree=False)
    submit(10)
    submit(11)
    with pytest.raises(PartnerLoginThrottled):
        submit(12)
    assert onboarding.PartnerApplication.objects.count() == 2


def test_the_application_form_links_the_partner_agreement_the_applicant_accepts(world):
    """The agreement was named beside its checkbox but nowhere to be read (issue 58, item 11)."""
    import re

    http = HttpClient()
    page = http.get(reverse("partners:apply", args=[world.brand.code])).content.decode()
    link = re.search(r'<a href="([^"]+)"[^>]*data-agreement>partner agreement</a>', page)
    assert link is not None and link.group(1) == reverse("partners:agreement", args=[world.brand.code])
    agreement = http.get(link.group(1))
    assert agreement.status_code == 200
    text = agreement.content.decode()
    assert f"Partner agreement of {world.brand.name}" in text and "Commission" in text and "Payment" in text
    assert http.get(reverse("partners:agreement", args=["no-such-brand"])).status_code == 404


def test_a_partners_payout_currency_is_read_by_the_one_currency_reader(world):
    from ib import services

    for code in ("usd", "XAU", "DOLLARS"):
        with pytest.raises(ValidationFailed) as refused:
            services.partner_create(actor=None, brand=world.brand, display_name="Euro Partners",
                                    email=f"{code.lower()}@partners.example", payout_currency=code)
        assert "payout_currency" in refused.value.fields, code
    partner = services.partner_create(actor=None, brand=world.brand, display_name="Euro Partners",
                                      email="eur@partners.example", payout_currency="EUR")
    assert partner.payout_currency == "EUR"


def test_the_application_lists_countries_as_checkboxes_and_names_an_unknown_code(world):
    """The countries were one 250-option <select multiple> (issue 58, item 11): now a list of checkboxes
    with a search box; codes of the list are taken, an unknown one is refused by name (form and service)."""
    http = HttpClient()
    url = reverse("partners:apply", args=[world.brand.code])
    page = http.get(url, HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert not re.search(r"<select[^>]*\bmultiple\b", page)
    boxes = re.findall(r'<input type="checkbox" name="countries" value="([A-Z]{2})"', page)
    assert len(boxes) > 240 and {"AE", "GB", "SA"} <= set(boxes)
    assert "data-checklist" in page and "js/checklist-filter.js" in page and 'dir="rtl"' in page
    assert "ابحث عن دولة (بالاسم أو بالرمز)" in page  # the search box, shown by the script, in Arabic
    form = application_data(countries=["AE", "GB"], marketing_methods=["website"], kind="ib", agree="on")
    refused = http.post(url, {**form, "countries": ["AE", "QQ"]})
    assert refused.status_code == 400
    assert "Unknown country code: QQ. Choose the countries from the list." in refused.content.decode()
    assert re.search(r'value="AE" id="id_countries_\d+" aria-invalid="true" checked>', refused.content.decode())
    assert not onboarding.PartnerApplication.objects.exists()
    with pytest.raises(ValidationFailed) as caught:
        apply(world.brand, countries=["AE", "ZZ", "qq"])
    assert caught.value.fields["countries"] == ["Unknown country code: ZZ, QQ. Choose the countries from the list."]
    sent = http.post(url, form)
    assert sent.status_code == 200 and "Thank you for applying" in sent.content.decode()
    assert onboarding.PartnerApplication.objects.get().countries == ["AE", "GB"]

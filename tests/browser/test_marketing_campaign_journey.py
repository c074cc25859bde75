"""Issue 63's marketing journey in a real browser, against the simulated providers: a local SMTP sink
(the CRM's SMTP mailer delivers into it) and the Twilio simulator (its own process, posting its signed
status callbacks to the CRM's live server), with the PSP simulator for the card deposit.

A marketer builds "funded, no trade in 14 days, English or Spanish" row by row on the segment page and
watches the live count (the htmx count partial) narrow to the clients built to match it; creates an
A/B email campaign to it with a hold-out group, previews a variant for a member and sends it, then an
SMS campaign to the same segment. The emails arrive in the sink with the List-Unsubscribe headers (none
to the hold-out group or to anyone outside the segment); the texts reach the simulator and come back
delivered. One recipient unsubscribes in one click, as a mail client does with the header's URL: a
second campaign to the segment skips them, while their withdrawal receipt (the wallet's own email when
finance pays a withdrawal, wallet.receipts) still reaches them. Another recipient deposits by card in the
trader's room: the first campaign's page shows the deposit in their variant's row beside the hold-out
row.

The clients are built through the services: registered in the trader's room (its marketing consent is
consent to email), SMS consent recorded, funded by wire weeks ago through the deposit code, trades
stored by the trading sync. A Celery worker (its own process, on the test database) delivers the
emails into the sink, sends the texts, delivers the events and the receipts, so the test waits for
what it does on the pages and in the database; the campaigns' send jobs are run here by an RQ burst
worker as the RQ worker would. Campaigns may send at any hour here (their sending
windows have tests of their own).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socketserver
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money, money_format
from crm.models import RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.crm.subprocess_env import celery_worker_ready, celery_worker_running
from tests.crm.test_celery_worker import worker_queue  # noqa: F401  (fixture)
from tests.emails.sms_support import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, twilio_session  # noqa: F401
from tests.factories import make_brand, make_user
from tests.rq import empty as rq_empty
from tests.rq import work as rq_work
from tests.waiting import scaled_ms, wait_until

pytestmark = [*MARKS, pytest.mark.worker]

CLIENT_PASSWORD = "amber-harbour-4417"
# The segment's members: (first name, last name, language, country, days since their last trade or None).
MATCHING = [
    ("Alice", "Barrow", "en", "GB", None),
    ("Benito", "Cruz", "es", "ES", None),
    ("Clara", "Dunmore", "en", "GB", 20),
    ("Diego", "Esparza", "es", "ES", 30),
    ("Edith", "Fairley", "en", "GB", None),
    ("Fermín", "Gallego", "es", "ES", None),
    ("Grace", "Hollins", "en", "GB", 45),
    ("Hugo", "Ibarra", "es", "ES", None),
    ("Isla", "Jessop", "en", "GB", None),
    ("Javier", "Lozano", "es", "ES", 16),
    ("Kitty", "Marsh", "en", "GB", None),
    ("Lucía", "Navarro", "es", "ES", None),
    ("Maud", "Oakes", "en", "GB", None),
    ("Nacho", "Pérez", "es", "ES", 60),
]
# Built to fall outside it: never funded, traded two days ago, German.
UNFUNDED = ("Olive", "Quinn", "en", "GB", None)
TRADED = ("Percy", "Rowe", "en", "GB", 2)
GERMAN = ("Quirin", "Stadler", "de", "DE", None)
SEGMENT = "Funded, idle 14 days, EN/ES"


# --- the SMTP sink -----------------------------------------------------------------------------------


class _SinkHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Django's SMTP mailer: every message is kept as received."""

    def handle(self) -> None:
        sink: SmtpSink = self.server  # type: ignore[assignment]
        self.wfile.write(b"220 sink ESMTP\r\n")
        while line := self.rfile.readline(65536):
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                data = []
                while (chunk := self.rfile.readline(1 << 20)) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)  # dot-unstuffing
                with sink.lock:
                    sink.messages.append(
                        email.message_from_bytes(b"".join(data), policy=email.policy.default)
                    )
                self.wfile.write(b"250 2.0.0 taken\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")


class SmtpSink(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.lock = threading.Lock()
        self.messages: list[Any] = []

    def received(self, *, header: str = "", value: str = "") -> list[Any]:
        """The messages so far (with `header`: those that have it, equal to `value` when given)."""
        with self.lock:
            got = list(self.messages)
        if header:
            got = [m for m in got if m[header] is not None and (not value or str(m[header]) == value)]
        return got


def _to(message: Any) -> str:
    return str(message["To"]).rsplit("<", 1)[-1].strip(">").strip().lower()


# --- the world ---------------------------------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def worker_starting(
    transactional_db: Any,
    worker_queue: str,  # noqa: F811
    live_server: Any,
    sink: SmtpSink,
    settings: Any,
    tmp_path: Any,
) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A crm worker` on this test's own queue, against the test database, started before the
    world is built (market waits until it is ready): its mailer is the SMTP sink, the links it writes
    and the simulator's status callbacks go to the live server."""
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    with celery_worker_running(
        worker_queue,
        tmp_path / "worker.log",
        ready=False,
        DJANGO_SETTINGS_MODULE="tests.browser.smtp_worker_settings",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink.server_address[1]),
        EMAIL_TIMEOUT="10",
        CRM_PUBLIC_URL=live_server.url,
        KYC_STORAGE_DIR=str(settings.KYC_STORAGE_DIR),
    ) as proc:
        yield proc


def _person(brand: Any, n: int, first: str, last: str, language: str, country: str) -> Any:
    from portal.models import ClientLogin
    from portal.services import portal_email_verify, portal_register, verification_token

    address = f"{first.lower()}.{last.lower()}@example.com".replace("í", "i").replace("é", "e")
    phone = (
        f"+44207183{8600 + n}"
        if country == "GB"
        else (f"+3491{5550000 + n}" if country == "ES" else f"+4930{55500000 + n}")
    )
    portal_register(
        brand=brand,
        language=language,
        first_name=first,
        last_name=last,
        email=address,
        phone=phone,
        country=country,
        date_of_birth=date(1980, 1, 1 + n),
        password=CLIENT_PASSWORD,
        accept_terms=True,
        accept_privacy=True,
        accept_marketing=True,
    )
    login_row = ClientLogin.objects.get(email_hash=keyed_hash(address, kind="email"))
    portal_email_verify(token=verification_token(login_row))
    return login_row.client


@pytest.fixture
def market(
    db: Any,
    settings: Any,
    tmp_path: Any,
    live_server: Any,
    worker_queue: str,  # noqa: F811
    worker_starting: subprocess.Popen[bytes],
    sink: SmtpSink,
    twilio_session: Any,  # noqa: F811
) -> Iterator[SimpleNamespace]:
    """A brand serving GB, ES and DE, taking wires (its clients' past deposits) and cards through the
    PSP simulator (no fees), texting through the Twilio simulator; fourteen clients who match the segment and three who do not (each registered in
    the trader's room with marketing consent, SMS consent too, the funded ones funded by wire weeks ago);
    a marketer and a finance officer. The Celery worker ready and every event of the building delivered
    before the test goes on; the SMTP sink is the mailer (the worker's and this process's)."""
    from crm.models import Event
    from emails.sms import sms_provider_save
    from marketing.consent import consent_record
    from portal.models import ConsentDocument, ConsentKind
    from tests.compliance.aml_support import trade, trading_account
    from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET, start_psp, stop_psp
    from tests.wallet.withdrawal_support import kyc_approve
    from wallet.demo import demo_wire_deposit, demo_wire_methods, demo_wire_provider
    from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    settings.CRM_PUBLIC_URL = live_server.url  # the links in the emails, the simulators' callbacks
    settings.MARKETING_CAMPAIGN_WINDOW = (0, 24)
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": sink.server_address[1], "timeout": 10},
        }
    }
    rq_empty()
    psp = start_psp()
    try:
        twilio_session.control("/_sim/faults/clear", {})
        brand = make_brand(code="atlas-mk", name="Atlas Markets", served_countries=["GB", "ES", "DE"])
        for kind in ConsentKind.values:
            for language in ("en", "es", "de"):
                ConsentDocument.objects.create(
                    brand=brand, kind=kind, version="1", language=language, title=f"{kind} v1"
                )
        wire = demo_wire_provider()
        demo_wire_methods(brand=brand, wire=wire)
        card = payment_provider_save(
            code="psp-sim",
            name="PSP simulator",
            kind="simulator",
            base_url=psp.base_url,
            api_key=API_KEY,
            api_secret=API_SECRET,
            webhook_secret=WEBHOOK_SECRET,
        )
        payment_method_save(
            brand=brand,
            method="card",
            direction="deposit",
            provider=card,
            order=10,
            currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal("0"), Decimal("0"))],
        )
        sms_provider_save(
            actor=None,
            brand=brand,
            code="twilio-mk",
            name="Twilio (simulator)",
            base_url=twilio_session.base_url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_number=FROM_NUMBER,
            rate_per_second="1000",
        )

        people: dict[str, Any] = {}
        for n, (first, last, language, country, traded) in enumerate([*MATCHING, UNFUNDED, TRADED, GERMAN]):
            client = _person(brand, n, first, last, language, country)
            consent_record(client=client, channel="sms", given=True, source="portal")
            twilio_session.control("/_sim/numbers", {"number": client.phone, "fate": "delivered"})
            if (first, last) != UNFUNDED[:2]:
                demo_wire_deposit(
                    provider=wire,
                    client=client,
                    amount=Money("500.00", "USD"),
                    at=timezone.now() - dt.timedelta(days=90),
                    n=n,
                )
            if traded is not None:
                trade(trading_account(client), "1.0", at=timezone.now() - dt.timedelta(days=traded))
            if (first, last, language, country, traded) in MATCHING:
                kyc_approve(client)  # any of them may be the one who withdraws
            people[first] = client
        marketer = make_user(
            role_code=RoleCode.MARKETING,
            brand=brand,
            full_name="Mia Marketer",
            email="mia@staff.example.com",
            password=PASSWORD,
        )
        finance = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Fiona Finance")
        # The worker delivers the building's events (and the mails the trader's room queued for the
        # registrations, which the test does not read) once it is up.
        celery_worker_ready(worker_starting, worker_queue)
        wait_until(
            lambda: not Event.objects.filter(dispatched_at__isnull=True).exists(),
            timeout=60,
            what="the worker to deliver the events of the clients' building",
        )
        yield SimpleNamespace(
            brand=brand,
            people=people,
            marketer=marketer,
            finance=finance,
            sink=sink,
            psp=psp,
            sim=twilio_session,
            members={people[m[0]].pk for m in MATCHING},
        )
    finally:
        stop_psp(psp)
        from emails.mailer import mailer_close

        mailer_close()


# --- the pages ----------------------------------------------------------------------------------------


def _page(browser: Any, *, wide: bool = True) -> Any:
    size = {"width": 1366, "height": 900} if wide else {"width": 390, "height": 844}
    page = browser.new_context(viewport=size).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    return page


def _results(page: Any) -> dict[str, dict[str, str]]:
    """The campaign page's results table as a user reads it: group -> column -> text."""
    headers = [h.strip() for h in page.locator("#campaign-results thead th").all_inner_texts()]
    rows = {}
    for row in page.locator("#campaign-results tbody tr").all():
        cells = [row.locator("th").inner_text(), *row.locator("td").all_inner_texts()]
        rows[str(row.get_attribute("data-group"))] = dict(
            zip(headers, (c.strip() for c in cells), strict=True)
        )
    return rows


def _settled(page: Any, done: Any, *, what: str) -> dict[str, dict[str, str]]:
    """The results table once `done(rows)` holds, the page reloaded until then (the worker is another
    process: its effects show a moment later)."""
    found: list[dict[str, dict[str, str]]] = []

    def check() -> bool:
        page.reload()
        found[:] = [_results(page)]
        return bool(done(found[0]))

    wait_until(check, timeout=20, interval=0.5, what=what)
    return found[0]


def _number(text: str) -> int:
    """A count as the table shows it, without its rate in brackets ("3 (0.25)" -> 3)."""
    return int(text.split("(")[0].strip())


def _campaign_new(
    page: Any,
    base: str,
    brand: Any,
    segment_code: str,
    *,
    name: str,
    channel: str,
    holdout: int,
    variants: list[tuple[str, str, int]],
    members: int,
) -> None:
    """Fill the new campaign's form (its live count checked)."""
    from playwright.sync_api import expect

    page.goto(f"{base}{reverse('marketing_campaign_new')}")
    form = page.locator("#campaign-form")
    form.locator("select[name=brand]").select_option(str(brand.pk))
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=channel]").select_option(channel)
    form.locator("select[name=segment]").select_option(segment_code)
    expect(page.locator("#campaign-count")).to_have_text(str(members))
    form.locator("input[name=holdout_percent]").fill(str(holdout))
    form.locator("input[name=attribution_days]").fill("14")
    for label, (subject, body, share) in zip("ab", variants, strict=False):
        if channel == "email":
            form.locator(f"input[name=subject_{label}]").fill(subject)
        form.locator(f"textarea[name=body_{label}]").fill(body)
        form.locator(f"input[name=share_{label}]").fill(str(share))
    if len(variants) == 1:
        form.locator("input[name=share_b]").fill("")


def _save_and_send(page: Any, base: str) -> str:
    """Save the filled form as a draft, send it from the campaign's page, and run its send job as the
    RQ worker would; the campaign's page, reloaded, shows it sent."""
    from playwright.sync_api import expect

    page.click("#campaign-form button.btn-primary[type=submit]")
    page.wait_for_url(re.compile(r"/marketing/campaigns/[0-9a-f-]{36}/$"))
    assert "Campaign saved as a draft." in page.inner_text("main")
    url = str(page.url)
    page.click("form[action$='/send/'] button[type=submit]")
    page.wait_for_url(url)
    assert "Sending started." in page.inner_text("main")
    rq_work()
    page.goto(url)
    expect(page.locator(".page-header h1 .badge")).to_have_text("Sent")
    return url


def test_a_marketer_sends_an_ab_campaign_to_a_segment_and_sees_an_unsubscribe_and_a_deposit_against_the_holdout(
    live_server: Any, browser: Any, market: SimpleNamespace
) -> None:
    from playwright.sync_api import expect

    from marketing.campaign_models import Campaign, RecipientStatus
    from wallet.models import Deposit

    base, w = live_server.url, market
    people, members = w.people, w.members
    names = {c.pk: c.first_name for c in people.values()}
    page = _page(browser)
    login(page, base, w.marketer.email)

    # 1. The segment, row by row; the live count narrows as each condition is added.
    page.goto(f"{base}{reverse('marketing_segments')}")
    form, count = page.locator("#segment-form"), page.locator("#segment-count")
    form.locator("select[name=brand]").select_option(str(w.brand.pk))
    form.locator("input[name=name]").fill(SEGMENT)
    form.locator("select[name=fact_0]").select_option("first_deposit")
    form.locator("select[name=op_0]").select_option("exists")
    # Every funded client: the recent trader and the German too.
    expect(count).to_have_text(str(len(MATCHING) + 2))
    form.locator("select[name=fact_1]").select_option("last_trade")
    form.locator("select[name=op_1]").select_option("not_within_days")
    form.locator("input[name=days_1]").fill("14")
    form.locator("input[name=days_1]").press("Tab")
    expect(count).to_have_text(str(len(MATCHING) + 1))  # not the one who traded two days ago
    form.locator("select[name=fact_2]").select_option("language")
    form.locator("select[name=op_2]").select_option("in")
    form.locator("input[name=value_2]").fill("en es")
    form.locator("input[name=value_2]").press("Tab")
    expect(count).to_have_text(str(len(MATCHING)))  # not the German
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/marketing/segments/[0-9a-f-]{36}/$"))
    segment_code = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert "Segment saved." in page.inner_text("main")
    expect(page.locator("#segment-count")).to_have_text(str(len(MATCHING)))

    # 2. The A/B campaign with a hold-out group: a variant previewed for a member, then sent.
    _campaign_new(
        page,
        base,
        w.brand,
        segment_code,
        name="We miss you",
        channel="email",
        holdout=30,
        members=len(MATCHING),
        variants=[
            (
                "{{ client.first_name }}, the markets miss you",
                "Hello {{ client.first_name }},\n\nGold moved 4% this week: https://atlas.example/gold",
                50,
            ),
            (
                "A week of gold for {{ client.first_name }}",
                "Hi {{ client.first_name }}, see what moved: https://atlas.example/week",
                50,
            ),
        ],
    )
    page.locator("#campaign-form fieldset").nth(0).locator("button", has_text="Preview for a member").click()
    preview = page.locator("#preview-A")
    expect(preview).to_contain_text("would get it")
    assert "Alice, the markets miss you" in preview.inner_text()  # the first member, her facts filled in
    assert "Hello Alice," in preview.inner_text() and "{{" not in preview.inner_text()
    first_url = _save_and_send(page, base)
    first = Campaign.objects.get(name="We miss you")
    rows = list(first.recipients.select_related("variant"))
    assert {r.client_id for r in rows} == members
    sent = {r.client_id: r.variant.label for r in rows if r.status == RecipientStatus.SENT and r.variant}
    held = {r.client_id for r in rows if r.status == RecipientStatus.HELD_OUT}
    assert len(sent) >= 2 and set(sent) | held == members, [(names[r.client_id], r.status) for r in rows]

    # The emails arrive in the sink: one to each member mailed, none to the hold-out group nor to anyone
    # outside the segment, each with the one-click unsubscribe headers.
    address = {c.pk: c.email.lower() for c in people.values()}
    mails = wait_until(
        lambda: (
            (got := w.sink.received(header="X-CRM-Campaign", value=str(first.code)))
            and len(got) >= len(sent)
            and got
        ),
        timeout=20,
        what="the campaign's emails in the sink",
    )
    assert sorted(_to(m) for m in mails) == sorted(address[pk] for pk in sent)
    for mail in mails:
        assert str(mail["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        unsubscribe = str(mail["List-Unsubscribe"])
        assert re.search(r"<https?://[^>]+/m/u/[^>]+>", unsubscribe), unsubscribe
    # The worker records each delivery once the sink has taken it: the page catches up.
    mailed = {label: sum(1 for v in sent.values() if v == label) for label in ("A", "B")}
    results = _settled(
        page,
        lambda rows: all(_number(rows[label]["Delivered"]) == n for label, n in mailed.items()),
        what="the emails delivered on the campaign's page",
    )
    for label, n in mailed.items():
        assert _number(results[label]["Members"]) == n and _number(results[label]["Delivered"]) == n
    assert _number(results["holdout"]["Members"]) == len(held)
    assert results["holdout"]["Delivered"] == "0"

    # The same segment by SMS: the texts reach the Twilio simulator and come back delivered.
    _campaign_new(
        page,
        base,
        w.brand,
        segment_code,
        name="We miss you (SMS)",
        channel="sms",
        holdout=0,
        members=len(MATCHING),
        variants=[
            (
                "",
                "{{ client.first_name }}, gold moved 4%: https://atlas.example/gold Reply STOP to opt out",
                100,
            )
        ],
    )
    page.locator("#campaign-form fieldset").nth(0).locator("button", has_text="Preview for a member").click()
    expect(page.locator("#preview-A .sms-length")).to_contain_text("SMS part")
    sms_url = _save_and_send(page, base)
    phones = {people[m[0]].phone for m in MATCHING}
    texted = wait_until(
        lambda: (
            (got := [m for m in w.sim.control("/_sim/messages")["messages"] if m.get("to") in phones])
            and len(got) >= len(phones)
            and got
        ),
        timeout=20,
        what="the texts at the Twilio simulator",
    )
    assert sorted(m["to"] for m in texted) == sorted(phones)
    page.goto(sms_url)
    wait_until(
        lambda: page.reload() and _number(_results(page)["A"]["Delivered"]) == len(MATCHING),
        timeout=20,
        interval=0.5,
        what="the texts delivered on the SMS campaign's page",
    )

    # 3. One recipient unsubscribes in one click: their mail client POSTs to the header's URL (RFC 8058).
    leaver_id, depositor_id = sorted(sent)[:2]
    leaver, depositor = (next(c for c in people.values() if c.pk == pk) for pk in (leaver_id, depositor_id))
    mail = next(m for m in mails if _to(m) == address[leaver_id])
    found = re.search(r"<(https?://[^>]+)>", str(mail["List-Unsubscribe"]))
    assert found is not None and found.group(1).startswith(base)
    one_click = urllib.request.Request(
        found.group(1),
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(one_click, timeout=10) as response:  # noqa: S310 - the live server's URL
        assert response.status == 200
    page.goto(first_url)
    results = _settled(
        page, lambda rows: rows[sent[leaver_id]]["Unsubscribed"] == "1", what="the unsubscribe on the page"
    )
    assert [g for g, row in results.items() if row["Unsubscribed"] != "0"] == [sent[leaver_id]]

    # A second campaign to the same segment, nobody held out, mails everyone else and skips them.
    _campaign_new(
        page,
        base,
        w.brand,
        segment_code,
        name="Last call",
        channel="email",
        holdout=0,
        members=len(MATCHING),
        variants=[
            (
                "Last call, {{ client.first_name }}",
                "Hello {{ client.first_name }}, the offer ends today.",
                100,
            )
        ],
    )
    _save_and_send(page, base)
    second = Campaign.objects.get(name="Last call")
    again = wait_until(
        lambda: (
            (got := w.sink.received(header="X-CRM-Campaign", value=str(second.code)))
            and len(got) >= len(MATCHING) - 1
            and got
        ),
        timeout=20,
        what="the second campaign's emails",
    )
    assert sorted(_to(m) for m in again) == sorted(address[pk] for pk in members - {leaver_id})
    results = _results(page)
    assert (
        _number(results["A"]["Members"]) == len(MATCHING) - 1 and results["A"]["Skipped: no consent"] == "1"
    )

    # Their withdrawal still brings its receipt: requested in the trader's room, paid by finance.
    from wallet.models import Withdrawal
    from wallet.withdrawals import withdrawal_approve, withdrawal_mark_paid

    room = _room(browser, base, w.brand, leaver.email)
    room.goto(f"{base}{reverse('portal:withdraw')}")
    assert room.locator("select[name=method] option").count() == 1  # the brand pays out by bank wire only
    room.fill("input[name=amount]", "200")
    room.fill("input[name=destination]", "GB82 WEST 1234 5698 7654 32")
    room.click("form[method=post] button.p-btn[type=submit]")
    withdrawal = wait_until(lambda: Withdrawal.objects.filter(client=leaver).first(), what="the withdrawal")
    assert withdrawal.state == "requested", withdrawal.reason
    withdrawal = withdrawal_approve(withdrawal=withdrawal, actor=w.finance)
    # The worker takes the approved payout (a bank wire: it waits in finance's queue to be paid).
    withdrawal = wait_until(
        lambda: (got := Withdrawal.objects.get(pk=withdrawal.pk)).state == "processing" and got,
        timeout=20,
        what="the worker to take the withdrawal's payout",
    )
    withdrawal_mark_paid(withdrawal=withdrawal, actor=w.finance, bank_reference="REF-MK-1")
    receipt = wait_until(
        lambda: w.sink.received(header="X-CRM-Receipt", value=f"withdrawal_paid:{withdrawal.code}"),
        timeout=20,
        what="the withdrawal receipt in the sink",
    )
    assert (
        len(receipt) == 1 and _to(receipt[0]) == address[leaver_id] and receipt[0]["List-Unsubscribe"] is None
    )
    with translation.override(leaver.language):  # in the leaver's language, the amount as the room writes it
        amount = money_format(Money("200", "USD"))
    assert amount in str(receipt[0]["Subject"]) and w.brand.name in str(receipt[0]["From"])
    assert leaver.first_name in receipt[0].get_body(("plain",)).get_content()

    # 4. Another recipient deposits by card in the trader's room within the window: the first campaign's
    # page shows it in their variant's row, beside the hold-out row that was not mailed.
    room = _room(browser, base, w.brand, depositor.email)
    room.goto(f"{base}{reverse('portal:wallet_deposit_new')}?currency=USD")
    room.select_option("select[name=method]", index=0)  # the card, first of the brand's methods
    room.fill("input[name=amount]", "300")
    room.click("form[method=post] button.p-btn[type=submit]")
    room.wait_for_selector("input[name=card_number]")
    assert room.url.startswith(w.psp.base_url)
    room.fill("input[name=card_number]", "4242 4242 4242 4242")
    room.click("button[type=submit]")
    deposit = Deposit.objects.filter(client=depositor, method="card").get()
    room.wait_for_url(re.compile(re.escape(reverse("portal:wallet_deposit", args=[deposit.code]))))
    room.wait_for_selector("#deposit-status[data-status=succeeded]", timeout=scaled_ms(30_000))
    page.goto(first_url)
    label, other = sent[depositor_id], "B" if sent[depositor_id] == "A" else "A"
    results = _settled(page, lambda rows: rows[label]["Depositors"] != "0", what="the deposit on the page")
    mine, holdout = results[label], results["holdout"]
    assert (mine["Depositors"], mine["Deposits"]) == ("1", "300.00\u00a0USD"), mine
    assert _number(results[label]["First deposits"]) == 0  # they had deposited before: not a first deposit
    assert (holdout["Depositors"], holdout["Deposits"]) == ("0", "—"), holdout
    assert (results[other]["Depositors"], results[other]["Deposits"]) == ("0", "—"), results[other]
    assert list(results) == ["A", "B", "holdout"]  # the hold-out row beside the variants'
    assert results["holdout"]["Group"] == "Hold-out"


def _room(browser: Any, base: str, brand: Any, address: str) -> Any:
    """A client signed in to the trader's room, on a phone."""
    room = _page(browser, wide=False)
    room.goto(f"{base}/portal/{brand.code}/login/")
    room.fill("input[name=email]", address)
    room.fill("input[name=password]", CLIENT_PASSWORD)
    room.click("button[type=submit]")
    room.wait_for_url(f"{base}/portal/")
    return room

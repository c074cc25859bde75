"""The partner portal in every language of COMPLETE (issue 64 §3): each message its surfaces can show (its
pages, the public application and agreement, the support pages partners use, the forms partners fill,
the errors of the services those pages call, and every mail to a partner) is translated, with no
untranslated or fuzzy entry; the translations keep the placeholders; the compiled catalogues are the
ones in the repository; the switch's language is remembered; amounts and dates follow the page's
language; and a partner's mails are in the partner's language.

The portal's own catalogue is ib/locale/<locale>/LC_MESSAGES/django.po: it holds the partner messages
that the other catalogues (the trader's room's, support's, trading's, the core's) do not translate
already, so that no app's catalogue overrides another's words. A language joins COMPLETE once its
catalogues cover every message; `partner_messages()` below lists them (tests.portal.translations
extracts them as for the room)."""

from __future__ import annotations

import gettext
import re
import shutil

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client as HttpClient
from django.utils import translation
from django.utils.translation import to_locale

from ib import commissions as cs
from ib import onboarding, partner_reset
from ib.models import MarketingMethod, PartnerLogin
from tests.ib.test_onboarding import apply, run_mail_tasks
from tests.ib.test_partner_portal import portal_world, sign_in
from tests.portal.translations import (
    REPO_ROOT,
    Entry,
    catalogue_entries,
    choice_messages,
    parse_po,
    surface_messages,
)
from tests.portal.translations import untranslated as untranslated_in

# What a partner can read: the portal's code and templates, the partials its pages include (the
# room's form fields and language switch, a commission line's calculation, the charts, support's
# requester pages), the public application and agreement, the support pages of partners, the PDF
# statement, every mail to a partner or an applicant, and what the services the pages call say when
# they refuse (the partner programme's, the generic domain errors, amounts and text).
SURFACES = (
    "ib/partner_views.py",
    "ib/partner_urls.py",
    "ib/partner_auth.py",
    "ib/partner_reset.py",
    "ib/partner_forms.py",
    "templates/ib/partner_portal/*.html",
    "templates/ib/_line_trace.html",
    "templates/ib/_series_charts.html",
    "templates/ib/statement_pdf.html",
    "templates/emails/ib/*.txt",
    "templates/support/partner/*.html",
    "templates/support/_requester_*.html",
    "support/requester_pages.py",
    "templates/portal/base.html",
    "templates/portal/_field.html",
    "templates/portal/_form_errors.html",
    "ib/exceptions.py",
    "ib/services.py",
    "ib/onboarding.py",
    "ib/disputes.py",
    "ib/settlement.py",
    "ib/statements.py",
    "ib/selectors.py",
    "crm/exceptions.py",
    "crm/lib/money.py",
    "crm/lib/validation.py",
)

# The choices of models that the partner's pages show by name (get_FOO_display): a question's state, a
# payout's destination and state, a postback's event and status, a commission rule's kind and basis,
# a referred client's stage, a support ticket's status and category.
CHOICES = (
    ("ib.CommissionDispute", "state"), ("ib.PartnerPayout", "destination"), ("ib.PartnerPayout", "state"),
    ("ib.PostbackDelivery", "event_name"), ("ib.PostbackDelivery", "status"), ("ib.PlanRule", "kind"),
    ("ib.PlanRule", "basis"), ("crm.Client", "stage"), ("support.Ticket", "status"), ("support.Ticket", "category"),
)

# The catalogues Django reads for a partner's page: LOCALE_PATHS, then the apps' in INSTALLED_APPS's order.
CATALOGUES = ("locale", "crm/locale", "trading/locale", "ib/locale", "support/locale", "portal/locale")
OTHERS = tuple(folder for folder in CATALOGUES if folder != "ib/locale")

COMPLETE: tuple[str, ...] = ("es", "fr", "de", "pt-br", "ar", "ru", "ja", "it", "pl", "zh-hans", "zh-hant", "tr", "ko", "id", "vi", "ms", "th", "fa")

LANGUAGES = tuple(code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE)
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%|\{\w*\}")


def partner_messages() -> list[Entry]:
    """Every message of the partner portal (needs GNU gettext's xgettext): SURFACES, CHOICES and the
    application's ways of finding clients (an array field's choices)."""
    found = surface_messages(SURFACES)
    known = {message.key for message in found}
    extra = [*choice_messages(CHOICES), *(Entry(msgid=str(label)) for label in MarketingMethod.labels)]
    for entry in extra:
        if entry.key not in known:
            known.add(entry.key)
            found.append(entry)
    return found


def _po(language: str) -> str:
    return (REPO_ROOT / "ib" / "locale" / to_locale(language) / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def messages():
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext's xgettext is not installed: the partner portal's messages cannot be listed")
    return partner_messages()


def test_the_partner_portal_s_messages_are_found(messages):
    found = {message.msgid for message in messages}
    assert len(found) > 300
    # code, templates, an included partial, a mail, a form, a service's refusal, a choice
    assert {"Check your email", "Payouts", "Where it came from", "Your partner password at %(brand)s",
            "Your name or company", "This invitation link cannot be used.", "Social media"} <= found


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_of_every_language_lists_each_message_no_other_catalogue_translates(messages, language):
    """ib/locale of each language carries every partner message the others leave untranslated (for its
    translator to fill in), and none that another catalogue translates already."""
    missing = set(untranslated_in(language, messages, OTHERS))
    listed = {entry.msgid for entry in parse_po(_po(language))}
    assert missing - listed == set(), f"{language}: run the extraction: {sorted(missing - listed)[:5]}"
    assert listed - missing == set(), f"{language}: translated by another catalogue: {sorted(listed - missing)[:5]}"


@pytest.mark.parametrize("language", COMPLETE)
def test_every_message_of_the_partner_portal_is_translated(messages, language):
    missing = untranslated_in(language, messages, CATALOGUES)
    assert not missing, f"{language}: {len(missing)} messages untranslated or fuzzy, e.g. {missing[:5]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders(messages, language):
    found = catalogue_entries(language, ("ib/locale",))
    wrong = []
    for message in messages:
        wanted = set(PLACEHOLDER.findall(message.msgid)) | set(PLACEHOLDER.findall(message.msgid_plural or ""))
        for entry in found.get(message.key, []):
            for text in entry.msgstr.values():
                got = set(PLACEHOLDER.findall(text))
                # A plural form for exactly one may leave the count out ("one click"), nothing else.
                if text and got != wanted and not (message.msgid_plural and got <= wanted):
                    wrong.append((message.msgid, text))
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_is_current(language):
    """The .mo files are committed (as for every catalogue here): each says what its .po says, and a
    message left untranslated is not in it (Django goes on to the next catalogue)."""
    po = REPO_ROOT / "ib" / "locale" / to_locale(language) / "LC_MESSAGES" / "django.po"
    with po.with_suffix(".mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = []
    for entry in parse_po(po.read_text(encoding="utf-8")):
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None and compiled.gettext(key) != (entry.msgstr[0] if entry.translated else key):
            stale.append(entry.msgid)
    assert not stale, f"{language}: compile the catalogue (compilemessages): {stale[:5]}"


@pytest.mark.parametrize("language", COMPLETE)
def test_a_complete_language_has_no_untranslated_entry_left(language):
    left = [entry.msgid for entry in parse_po(_po(language)) if not entry.translated]
    assert not left, f"{language}: {left[:5]}"


@pytest.fixture
def world(db):
    return portal_world()


def test_the_partner_s_language_pick_is_remembered(world):
    http = HttpClient()
    page = http.get(f"/partners/{world.brand.code}/login/?lang=ar")
    assert page.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"  # the public pages, another visit
    sign_in(world, http)

    page = http.get("/partners/")

    text = page.content.decode()
    assert 'lang="ar"' in text and 'dir="rtl"' in text and page["Content-Language"] == "ar"
    assert 'hreflang="es"' in text  # the switch, each language by its own name
    es = http.get("/partners/earnings/?lang=es")
    assert es["Content-Language"] == "es" and http.get("/partners/payouts/")["Content-Language"] == "es"


def test_amounts_and_dates_on_the_partner_s_pages_follow_the_language(world):
    http, _ = sign_in(world)
    pages = {language: http.get(f"/partners/earnings/?lang={language}").content.decode() for language in ("en", "de")}
    amounts = {language: re.findall(r"data-amount>([^<]*)<", page) for language, page in pages.items()}
    assert "2.00\u00a0USD" in amounts["en"] and "2,00\u00a0USD" in amounts["de"]
    assert "04/03/2024" in pages["en"] and "04.03.2024" in pages["de"]  # the line's date (engine_world's March)


def test_a_partner_s_mails_are_in_the_language_it_applied_in(ib, settings, django_capture_on_commit_callbacks):
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    plan = cs.plan_create(actor=ib.manager, brand=ib.brand, name="Standard", currency="USD")
    application = apply(ib.brand, language="es")
    with django_capture_on_commit_callbacks() as callbacks:
        partner = onboarding.application_approve(actor=ib.manager, application=application, plan=plan)
    run_mail_tasks(callbacks)
    [welcome] = mail.outbox
    assert welcome.subject == f"Bienvenido al programa de socios de {ib.brand.name}"
    assert "Abra este enlace para elegir su contraseña" in welcome.body

    # Asked for from a page in another language, or sent by the system: still the partner's own.
    with translation.override("de"):
        assert partner_reset.partner_reset_mail_send(PartnerLogin.objects.get(partner=partner).pk)

    assert mail.outbox[-1].subject == f"Su contraseña de socio en {ib.brand.name}"
    assert "El enlace funciona una sola vez" in mail.outbox[-1].body

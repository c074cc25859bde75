"""Every email to a client and every public page in every language of COMPLETE: each message their
surfaces can show is translated (no untranslated or fuzzy entry), the translations keep the
placeholders and the template language's tags, the compiled catalogues are the ones in the
repository, and an email sent to a client comes out in the client's language (issue 64 §3).

The surfaces and catalogues are listed in tests/emails/client_translations.py. Every offered language
has its catalogues with every message extracted (translated or not), so that a translator has only
to fill them in; a language is added to COMPLETE once they are filled in and compiled."""

from __future__ import annotations

import gettext
import re
import shutil

import pytest
from django.conf import settings
from django.test import Client as Browser
from django.urls import reverse
from django.utils.translation import to_locale

from emails.defaults import template_translated
from emails.models import OutboundEmail
from support import complaints
from tests.emails.client_translations import ALSO, CATALOGUES, CLIENT_CATALOGUES, client_messages
from tests.factories import make_brand
from tests.portal.translations import REPO_ROOT, catalogue_entries, parse_po, untranslated
from tests.support.complaint_world import build_world, open_ticket

COMPLETE: tuple[str, ...] = ("es", "fr", "de", "pt-br", "ar", "ru", "ja", "it", "pl", "zh-hans", "zh-hant", "tr", "ko", "id", "vi", "ms", "th", "fa")

OFFERED = tuple(code for code, _name in settings.LANGUAGES if code != "en")

# Printf-style placeholders, and the email template language's variables and tags.
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%|\{\{.*?\}\}|\{%.*?%\}")


@pytest.fixture(scope="module")
def messages():
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext's xgettext is not installed: the messages cannot be listed")
    return client_messages()


def _all(messages):
    return [entry for entries in messages.values() for entry in entries]


def test_the_messages_of_emails_and_public_pages_are_found(messages):
    found = {folder: {entry.msgid for entry in entries} for folder, entries in messages.items()}
    assert "You receive this email as a client of %(brand_name)s." in found["emails/locale"]  # the layout
    assert "{{ brand.name }}: your complaint {{ event.data.reference }}" in found["emails/locale"]  # a letter
    assert (
        "Please confirm your email address by opening this link:" in found["emails/locale"]
    )  # the room's mail
    assert "Open your account with %(brand)s" in found["leads/locale"]
    assert "Save my preferences" in found["marketing/locale"]
    assert "Show my password" in found["trading/locale"]
    for _folder, path, msgid in ALSO:
        assert msgid in (REPO_ROOT / path).read_text(encoding="utf-8"), (path, msgid)


@pytest.mark.parametrize("language", OFFERED)
def test_every_offered_language_has_every_message_in_its_catalogues(messages, language):
    """Translated, or waiting for its translation in the catalogue it belongs to (none is missed)."""
    found = catalogue_entries(language, CATALOGUES)
    missing = []
    for folder, entries in messages.items():
        own = set(catalogue_entries(language, (folder,)))
        for entry in entries:
            if entry.key not in own and not any(e.translated for e in found.get(entry.key, [])):
                missing.append(f"{folder}: {entry.msgid[:60]}")
    assert not missing, f"{language}: extract these into the catalogues: {missing[:5]}"


@pytest.mark.parametrize("language", COMPLETE)
def test_every_message_of_emails_and_public_pages_is_translated(messages, language):
    missing = untranslated(language, _all(messages), CATALOGUES)
    assert not missing, f"{language}: {len(missing)} messages untranslated or fuzzy, e.g. {missing[:5]}"


@pytest.mark.parametrize("language", (*COMPLETE, "ar"))
def test_translations_keep_the_placeholders_and_the_template_tags(messages, language):
    found = catalogue_entries(language, CATALOGUES)
    wrong = []
    for message in _all(messages):
        wanted = set(PLACEHOLDER.findall(message.msgid)) | set(
            PLACEHOLDER.findall(message.msgid_plural or "")
        )
        for entry in found.get(message.key, []):
            for text in entry.msgstr.values():
                if not text:
                    continue
                got = set(PLACEHOLDER.findall(text))
                # A plural form for exactly one may leave the count out ("one hour"), nothing else.
                if got != wanted and not (message.msgid_plural and got <= wanted):
                    wrong.append((message.msgid[:60], text[:60]))
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("language", OFFERED)
def test_the_compiled_catalogues_are_current(language):
    stale = []
    for folder in CLIENT_CATALOGUES:
        po = REPO_ROOT / folder / to_locale(language) / "LC_MESSAGES" / "django.po"
        if not po.exists():
            continue
        with po.with_suffix(".mo").open("rb") as mo:
            compiled = gettext.GNUTranslations(mo)
        for entry in parse_po(po.read_text(encoding="utf-8")):
            if entry.translated and entry.msgid_plural is None:
                key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
                if compiled.gettext(key) != entry.msgstr[0]:
                    stale.append(f"{folder}: {entry.msgid[:60]}")
    assert not stale, f"{language}: compile the catalogue (msgfmt): {stale[:5]}"


def test_a_brand_is_given_a_template_only_in_the_languages_its_catalogues_translate():
    reminder = {
        "description": "d",
        "subject": "{{ brand.name }}: your verification",
        "body": "Dear {{ client.first_name }},\n\nWe are unable to verify your account."
        "{% if event.data.reason %}\n\n{{ event.data.reason }}{% endif %}"
        "\n\nIf you have questions, reply to this email.\n\nKind regards,\n{{ brand.name }}",
    }
    assert template_translated(reminder, "en") == reminder
    arabic = template_translated(reminder, "ar")
    assert arabic is not None and "نأسف لعدم تمكننا من التحقق من حسابك" in arabic["body"]
    assert arabic["description"] == "d"  # staff's words stay as written
    assert template_translated(reminder, "sw") is None  # a language not offered: the brand's English serves
    assert template_translated({**reminder, "body": "Words no catalogue has."}, "ar") is None


@pytest.mark.django_db
def test_a_complaint_s_receipt_reaches_a_spanish_speaking_client_in_spanish():
    world = build_world(language="es")
    complaint = complaints.complaint_register(
        ticket=open_ticket(world), category="withdrawals", actor=world.agent
    )
    mail = OutboundEmail.objects.get(client=world.client, template_key=complaints.ACK_TEMPLATE)
    assert mail.language == "es"
    assert mail.subject == f"Atlas Complaints: su reclamación {complaint.reference}"
    assert mail.body_text.startswith("Estimado/a Laura:\n\nHemos recibido su reclamación")
    assert "Atentamente,\nAtlas Complaints" in mail.body_text
    assert "Recibe este correo como cliente de Atlas Complaints." in mail.body_text  # the layout, too
    assert 'lang="es"' in mail.body_html and "Hemos recibido su reclamación" in mail.body_html
    assert "received" not in mail.body_text


@pytest.mark.django_db
def test_the_public_lead_form_speaks_the_visitor_s_language():
    brand = make_brand(code="sol", name="Sol Markets")
    browser = Browser(HTTP_ACCEPT_LANGUAGE="es")
    page = browser.get(reverse("lead_form", args=[brand.code])).content.decode()
    assert 'lang="es"' in page and "Abra su cuenta en Sol Markets" in page
    assert "Acepto que me contacten sobre mi cuenta" in page
    page = browser.get(reverse("lead_form", args=[brand.code]) + "?lang=en").content.decode()
    assert "Open your account with Sol Markets" in page  # the page's own switch

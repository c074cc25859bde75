"""The trader's room in every language of COMPLETE: each message its surfaces can show is translated
(no untranslated or fuzzy entry), the translations keep the placeholders, the compiled catalogues are
the ones in the repository, amounts and dates follow the page's language, and the language switch
is remembered (issue 64 §3).

A language is added to COMPLETE once its catalogue (portal/locale/<locale>/LC_MESSAGES/django.po, plus
what locale/ already translates) covers every message; `tests.portal.translations.portal_messages()`
lists them."""

from __future__ import annotations

import gettext
import re
import shutil
from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import formats, translation
from django.utils.translation import to_locale

from crm.lib.money import Money, money_format
from tests.portal.conftest import sign_in
from tests.portal.translations import (
    CATALOGUES,
    REPO_ROOT,
    catalogue_entries,
    choice_messages,
    parse_po,
    portal_messages,
    untranslated,
)

COMPLETE = ("ar", "es", "pt-br", "fr", "de", "it", "pl", "ru", "tr", "fa", "zh-hans", "zh-hant", "vi", "th", "id", "ms", "ja", "ko")

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%|\{\w*\}")


@pytest.fixture(scope="module")
def messages():
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext's xgettext is not installed: the room's messages cannot be listed")
    found = portal_messages()
    known = {message.msgid for message in found}
    return found + [entry for entry in choice_messages() if entry.msgid not in known]


def test_the_room_s_messages_are_found(messages):
    found = {message.msgid for message in messages}
    assert len(found) > 400
    assert {"Wallet", "Sign in to %(brand)s", "Trader's room", "Rules"} <= found  # code, templates, included partials


@pytest.mark.parametrize("language", COMPLETE)
def test_every_message_of_the_room_is_translated(messages, language):
    missing = untranslated(language, messages)
    assert not missing, f"{language}: {len(missing)} messages untranslated or fuzzy, e.g. {missing[:5]}"


@pytest.mark.parametrize("language", COMPLETE)
def test_translations_keep_the_placeholders(messages, language):
    found = catalogue_entries(language)
    wrong = []
    for message in messages:
        wanted = set(PLACEHOLDER.findall(message.msgid)) | set(PLACEHOLDER.findall(message.msgid_plural or ""))
        for entry in found.get(message.key, []):
            for text in entry.msgstr.values():
                got = set(PLACEHOLDER.findall(text))
                # A plural form for exactly one may leave the count out ("one session"), nothing else.
                if got != wanted and not (message.msgid_plural and got <= wanted):
                    wrong.append((message.msgid, text))
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("language", COMPLETE)
def test_the_compiled_catalogues_are_current(language):
    """The .mo files are committed (as for every catalogue here): each says what its .po says."""
    stale = []
    for folder in CATALOGUES:
        po = REPO_ROOT / folder / to_locale(language) / "LC_MESSAGES" / "django.po"
        if not po.exists():
            continue
        with po.with_suffix(".mo").open("rb") as mo:
            compiled = gettext.GNUTranslations(mo)
        for entry in parse_po(po.read_text(encoding="utf-8")):
            if entry.translated and entry.msgid_plural is None:
                key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
                if compiled.gettext(key) != entry.msgstr[0]:
                    stale.append(f"{folder}: {entry.msgid}")
    assert not stale, f"{language}: compile the catalogue (compilemessages): {stale[:5]}"


def test_every_offered_language_is_complete():
    """A language added to settings.LANGUAGES (plumbing.languages) comes with the room's catalogue."""
    offered = {code for code, _name in settings.LANGUAGES}
    assert set(COMPLETE) | {"en"} == offered
    assert translation.get_language_info("fa")["bidi"] and translation.get_language_info("ar")["bidi"]


@pytest.mark.parametrize(("language", "shown"), [
    ("en", "1,234,567.50\u00a0USD"), ("de", "1.234.567,50\u00a0USD"), ("fr", "1\u00a0234\u00a0567,50\u00a0USD"),
    ("ar", "1.234.567,50\u00a0USD"), ("fa", "1,234,567.50\u00a0USD"), ("zh-hans", "1,234,567.50\u00a0USD"),
    ("zh-hant", "1,234,567.50\u00a0USD"),
    ("vi", "1.234.567,50\u00a0USD"), ("ja", "1,234,567.50\u00a0USD"), ("th", "1,234,567.50\u00a0USD"),
])
def test_amounts_are_grouped_with_the_language_s_marks(language, shown):
    with translation.override(language):
        assert money_format(Money(Decimal("1234567.5"), "USD")) == shown


def test_every_language_groups_the_digits_of_an_amount():
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            text = money_format(Money(Decimal("1234567"), "JPY"))
        assert not text.startswith("1234567"), (code, text)


def test_dates_follow_the_language():
    day = date(2026, 11, 29)
    with translation.override("ja"):
        assert formats.date_format(day) == "2026年11月29日"
    with translation.override("de"):
        assert formats.date_format(day) == "29. November 2026"


def test_the_language_picked_in_the_switch_is_remembered(registered, http):
    http.get(reverse("portal:login_brand", args=[registered.brand.code]) + "?lang=es")
    assert http.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    sign_in(http, registered.brand)
    page = http.get(reverse("portal:home")).content.decode()
    assert 'lang="es"' in page and "Monedero" in page  # "Wallet" in the header

    page = http.get(reverse("portal:home") + "?lang=ar").content.decode()

    assert 'dir="rtl"' in page
    registered.client.refresh_from_db()
    assert registered.client.language == "ar"  # the client's own language: their emails, another device
    assert http.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"


def test_the_switch_names_each_language_in_itself(brand, http):
    page = http.get(reverse("portal:login_brand", args=[brand.code]) + "?lang=th").content.decode()
    assert 'lang="th"' in page
    for code, _name in settings.LANGUAGES:
        info = translation.get_language_info(code)
        assert f'hreflang="{code}"' in page and info["name_local"] in page

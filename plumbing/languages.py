"""The languages the CRM's pages can be shown in (settings.LANGUAGES): the trader's room is translated
into each, the staff's pages into English and Arabic (others fall back to English there).

Names are in English, as Django's own catalogue has them, so that settings wraps each in gettext_lazy
and a page shows it in the page's language. Codes are Django's (its format modules and LANG_INFO):
"pt-br", "zh-hans", "zh-hant". Right-to-left: ar and fa (Django's LANG_INFO "bidi").
"""

from __future__ import annotations

LANGUAGE_CODE = "en"

LANGUAGE_NAMES: tuple[tuple[str, str], ...] = (
    ("en", "English"),
    ("es", "Spanish"),
    ("pt-br", "Brazilian Portuguese"),
    ("fr", "French"),
    ("de", "German"),
    ("it", "Italian"),
    ("pl", "Polish"),
    ("ru", "Russian"),
    ("tr", "Turkish"),
    ("ar", "Arabic"),
    ("fa", "Persian"),
    ("zh-hans", "Simplified Chinese"),
    ("zh-hant", "Traditional Chinese"),
    ("vi", "Vietnamese"),
    ("th", "Thai"),
    ("id", "Indonesian"),
    ("ms", "Malay"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
)

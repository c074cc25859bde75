"""What the clients' emails and the public pages say, and where their translations live (issue 64 §3).

Each catalogue of CLIENT_CATALOGUES holds the messages of its surfaces (files makemessages reads) that
the trader's room's catalogues do not already translate (portal/locale: "Login", "Password" are
reused, not translated twice):

- emails/locale: every email to a client or requester that code or a template writes: the layout
  (templates/emails/base.*), the room's own mails (verification, reset, "already registered"), the
  trading password link, the templates KYC and support give a brand (decisions, expiry, the
  verification reminder, complaint letters, ticket answers: emails.defaults) and the words KYC puts
  into them (the checks' hints, the vendor's refusal, ALSO).
- leads/locale: the public web-to-lead form (/f/<brand>/lead/) and the validation it shares.
- marketing/locale: the public unsubscribe and preference pages (/m/u/<token>).
- trading/locale: the public page of a trading password link (/trading-password/<token>/).
- wallet/locale: the receipts the wallet emails when money moves (wallet.receipts).

Templates staff write themselves (the composer's, a brand's reworded ones) are theirs, in the language
they write them in: not here.
"""

from __future__ import annotations

from tests.portal.translations import Entry, surface_messages

CLIENT_CATALOGUES: dict[str, tuple[str, ...]] = {
    "emails/locale": (
        "templates/emails/base.txt",
        "templates/emails/base.html",
        "templates/emails/portal/*.txt",
        "templates/emails/trading/*",
        "emails/defaults.py",
        "kyc/emails.py",
        "kyc/playbook.py",
        "kyc/checks/address.py",
        "kyc/checks/identity.py",
        "kyc/checks/legibility.py",
        "kyc/vendors/base.py",
        "support/letters.py",
    ),
    "leads/locale": (
        "templates/leads/public/*.html",
        "templates/crm/auth/_field.html",
        "templates/crm/auth/_form_errors.html",
        "leads/public_form.py",
        "leads/intake.py",
    ),
    "marketing/locale": (
        "templates/marketing/preferences.html",
        "templates/marketing/unsubscribe_invalid.html",
        "marketing/consent_views.py",
    ),
    "trading/locale": (
        "templates/trading/public/password_link.html",
        "trading/password_links.py",
    ),
    "wallet/locale": ("templates/emails/wallet/*.txt",),
}

# Words that staff-side code puts on these surfaces, named here rather than listing the whole file
# (with all its staff's messages) among the surfaces: (catalogue, file, message). KYC's expiry email
# gives its reason and holds (kyc.services); the unsubscribe page says why a link is refused
# (marketing.consent).
ALSO: tuple[tuple[str, str, str], ...] = (
    ("emails/locale", "kyc/services.py", "your identity document has expired"),
    ("emails/locale", "kyc/services.py", "held: %(what)s"),
    ("marketing/locale", "marketing/consent.py", "This unsubscribe link is not valid."),
    ("marketing/locale", "marketing/consent.py", "This unsubscribe link has been changed or cut short."),
    ("marketing/locale", "marketing/consent.py", "The person this link was sent to is no longer known."),
)

# Choices shown by name on these surfaces: a KYC email names the document and the holds; the
# preference page names the channels.
CLIENT_CHOICES: tuple[tuple[str, str], ...] = (
    ("kyc.Document", "kind"),
    ("kyc.KycPolicy", "expiry_holds"),
    ("marketing.ConsentDecision", "channel"),
)

# Every catalogue Django reads for these surfaces, in its order: the project's, the room's, then ours
# and the apps' own (an app's earlier catalogue, e.g. support's Arabic, may translate a message too).
CATALOGUES = ("locale", "portal/locale", *CLIENT_CATALOGUES, "support/locale", "crm/locale")


def client_messages() -> dict[str, list[Entry]]:
    """Each catalogue's surfaces' messages (a message found in two is the first one's), ALSO with
    the emails', choice labels with the emails' (KYC) or marketing's (channels)."""
    from django.apps import apps
    from django.utils import translation

    seen: set[tuple[str | None, str]] = set()
    found: dict[str, list[Entry]] = {}
    for folder, surfaces in CLIENT_CATALOGUES.items():
        found[folder] = [entry for entry in surface_messages(surfaces) if entry.key not in seen]
        seen |= {entry.key for entry in found[folder]}
    extra: dict[str, list[Entry]] = {}
    for folder, _path, msgid in ALSO:
        extra.setdefault(folder, []).append(Entry(msgid=msgid))
    with translation.override("en"):
        for model, name in CLIENT_CHOICES:
            folder = "marketing/locale" if model.startswith("marketing.") else "emails/locale"
            field = apps.get_model(model)._meta.get_field(name)
            for _value, label in getattr(field, "base_field", field).choices or ():
                extra.setdefault(folder, []).append(Entry(msgid=str(label)))
    for folder, entries in extra.items():
        for entry in entries:
            if entry.key not in seen:
                found[folder].append(entry)
                seen.add(entry.key)
    return found

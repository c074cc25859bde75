"""Demo data for people trying the CRM: `manage.py seed_demo` (see that command for the options).

What it makes, the same every time on an empty database (one fixed random seed; only the dates
move, since the history is laid out over the ~180 days before the run):

- two brands, Atlas Markets (atlas) and Nova FX (nova);
- three desks: Atlas's English-speaking sales desk (GB, IE, AU, ZA, NG, KE, NZ, SG), Atlas's
  Arabic sales desk (the Gulf, Egypt, Jordan) and Nova's retention desk (continental Europe);
- fifteen staff covering every role, with passwords that pass the password rules;
- 2,000 clients over every stage, weighted toward the markets retail brokers actually serve,
  each with attribution (source, campaign, UTM fields, affiliate and IB codes), tags, notes,
  tasks (some done, some overdue, some due today) and a timeline of events;
- email templates for the profile's composer (follow_up, deposit_help; English and Arabic) in
  both brands, and one email each agent wrote from one of them.

Two paths write clients, and their results look the same:

1. The first `via_services` clients go through crm.services (client_create,
   client_stage_change, note_add, task_create, task_complete) exactly as staff would make them
   (verified, funded and active through client_stage_prove, as KYC, the wallet and trading would),
   so the services' own validation, audit rows, history and events are exercised.
2. The rest are written in bulk, because one-by-one creation of 2,000 clients with their notes,
   tasks and stage changes takes minutes and `make run` seeds on first start. The bulk path
   writes what the services would: the rows, their simple_history rows (one per change, with
   the state after each change) and their Event rows with the same names and data shapes
   (client.created, client.stage_changed, note.added, task.created, task.completed), so the
   timeline and history of a bulk-made client are indistinguishable from a service-made one.
   One audit row ("demo.seed") records the bulk load; the audit log is not backdated.

Dates: each client's history is laid out in the past, so rows, history and events are
backdated to the moment each change "happened" (audit rows keep the real time of the seed).

Events: the seed's events describe the past. They are marked dispatched when written instead
of being handed to subscribers, which would otherwise act on months-old happenings (notify
owners of 2,000 "new" clients, fire webhooks) and flood the worker queue at first start.

Privileged roles: administrators, compliance and finance officers must use TOTP by default,
which would stop a first look at the demo at a QR code. The seed turns that requirement off
for the demo and says so; a production installation keeps it on.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any

import phonenumbers

SEED = 20_240_611
DEFAULT_CLIENTS = 2_000
DEFAULT_VIA_SERVICES = 200
HISTORY_DAYS = 180
DEMO_BRAND_CODES = ("atlas", "nova")

# --- the organisation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrandSpec:
    code: str
    name: str
    currency: str


BRANDS: tuple[BrandSpec, ...] = (
    BrandSpec("atlas", "Atlas Markets", "USD"),
    BrandSpec("nova", "Nova FX", "EUR"),
)


@dataclass(frozen=True)
class DeskSpec:
    key: str
    brand: str
    name: str
    kind: str
    countries: tuple[str, ...]
    languages: tuple[str, ...]
    timezone: str
    work_start: time
    work_end: time
    work_days: tuple[int, ...]


DESKS: tuple[DeskSpec, ...] = (
    DeskSpec("atlas-en", "atlas", "Atlas EN Sales", "sales",
             ("GB", "IE", "AU", "ZA", "NG", "KE", "NZ", "SG"), ("en",),
             "Europe/London", time(8, 0), time(18, 0), (1, 2, 3, 4, 5)),
    # The Gulf works Sunday to Thursday.
    DeskSpec("atlas-ar", "atlas", "Atlas Arabic Sales", "sales",
             ("AE", "SA", "KW", "QA", "BH", "OM", "EG", "JO"), ("ar",),
             "Asia/Dubai", time(9, 0), time(18, 0), (7, 1, 2, 3, 4)),
    DeskSpec("nova-ret", "nova", "Nova Retention", "retention",
             ("DE", "AT", "CH", "IT", "ES", "FR", "PL", "NL", "PT", "SE"),
             ("de", "it", "es", "fr", "pl", "nl", "pt", "sv", "en"),
             "Europe/Berlin", time(8, 0), time(20, 0), (1, 2, 3, 4, 5)),
)


@dataclass(frozen=True)
class StaffSpec:
    role: str
    full_name: str
    email: str
    password: str
    desk: str | None = None
    brands: tuple[str, ...] = ()
    all_brands: bool = False
    language: str = "en"
    timezone: str = "UTC"
    manages: str | None = None


STAFF_DOMAIN = "demo-broker.example"


def _staff(role: str, full_name: str, local: str, password: str, **kw: Any) -> StaffSpec:
    return StaffSpec(role=role, full_name=full_name, email=f"{local}@{STAFF_DOMAIN}", password=password, **kw)


# Demo passwords: long enough for the password rules, not common, unlike the user's name and email.
STAFF: tuple[StaffSpec, ...] = (
    _staff("admin", "Grace Holloway", "grace.holloway", "quartz-harbour-4821", all_brands=True,
           timezone="Europe/London"),
    _staff("desk_manager", "Oliver Grant", "oliver.grant", "copper-meadow-7305", desk="atlas-en",
           brands=("atlas",), timezone="Europe/London", manages="atlas-en"),
    _staff("desk_manager", "Layla Haddad", "layla.haddad", "saffron-dune-2648", desk="atlas-ar",
           brands=("atlas",), language="ar", timezone="Asia/Dubai", manages="atlas-ar"),
    _staff("desk_manager", "Marco Bianchi", "marco.bianchi", "olive-tramway-5192", desk="nova-ret",
           brands=("nova",), timezone="Europe/Berlin", manages="nova-ret"),
    _staff("sales_agent", "Emily Carter", "emily.carter", "maple-signal-3957", desk="atlas-en",
           brands=("atlas",), timezone="Europe/London"),
    _staff("sales_agent", "Thabo Nkosi", "thabo.nkosi", "baobab-river-6140", desk="atlas-en",
           brands=("atlas",), timezone="Africa/Johannesburg"),
    _staff("sales_agent", "Liam Murphy", "liam.murphy", "granite-kettle-8273", desk="atlas-en",
           brands=("atlas",), timezone="Europe/Dublin"),
    _staff("sales_agent", "Omar Khalil", "omar.khalil", "falcon-oasis-4716", desk="atlas-ar",
           brands=("atlas",), language="ar", timezone="Asia/Dubai"),
    _staff("sales_agent", "Noura Al-Mutairi", "noura.almutairi", "pearl-lantern-3089", desk="atlas-ar",
           brands=("atlas",), language="ar", timezone="Asia/Kuwait"),
    _staff("retention_agent", "Sofia Lindqvist", "sofia.lindqvist", "birch-harbor-5524", desk="nova-ret",
           brands=("nova",), timezone="Europe/Stockholm"),
    _staff("retention_agent", "Matteo Russo", "matteo.russo", "cypress-piazza-9061", desk="nova-ret",
           brands=("nova",), timezone="Europe/Rome"),
    _staff("compliance", "Priya Raman", "priya.raman", "ledger-orchid-7742", brands=("atlas", "nova"),
           timezone="Europe/London"),
    _staff("finance", "Henrik Larsen", "henrik.larsen", "fjord-abacus-3318", brands=("atlas", "nova"),
           timezone="Europe/Copenhagen"),
    # Brand-limited on purpose: Atlas runs the IB programme, and the demo shows a one-brand user.
    _staff("ib_manager", "Wei Chen", "wei.chen", "bamboo-bridge-6205", brands=("atlas",),
           timezone="Asia/Singapore"),
    _staff("dealer", "Viktor Petrov", "viktor.petrov", "anchor-candle-9437", brands=("atlas", "nova"),
           timezone="Asia/Nicosia"),
)

ROLE_ORDER = ("admin", "desk_manager", "sales_agent", "retention_agent", "compliance", "finance",
              "ib_manager", "dealer")


def staff_sorted() -> list[StaffSpec]:
    return sorted(STAFF, key=lambda s: (ROLE_ORDER.index(s.role), STAFF.index(s)))


# --- markets -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Market:
    country: str
    brand: str
    weight: float
    languages: tuple[tuple[str, float], ...]
    timezone: str
    names: str  # key into NAMES


MARKETS: tuple[Market, ...] = (
    # Atlas, English-speaking desk
    Market("GB", "atlas", 14, (("en", 1),), "Europe/London", "en"),
    Market("IE", "atlas", 3, (("en", 1),), "Europe/Dublin", "en"),
    Market("AU", "atlas", 6, (("en", 1),), "Australia/Sydney", "en"),
    Market("ZA", "atlas", 7, (("en", 1),), "Africa/Johannesburg", "za"),
    Market("NG", "atlas", 5, (("en", 1),), "Africa/Lagos", "ng"),
    Market("KE", "atlas", 3, (("en", 1),), "Africa/Nairobi", "ke"),
    Market("NZ", "atlas", 1.5, (("en", 1),), "Pacific/Auckland", "en"),
    Market("SG", "atlas", 2, (("en", 1),), "Asia/Singapore", "sg"),
    # Atlas, Arabic desk (English speakers there go to the English desk)
    Market("AE", "atlas", 8, (("ar", 0.6), ("en", 0.4)), "Asia/Dubai", "ar"),
    Market("SA", "atlas", 9, (("ar", 0.9), ("en", 0.1)), "Asia/Riyadh", "ar"),
    Market("KW", "atlas", 3, (("ar", 0.85), ("en", 0.15)), "Asia/Kuwait", "ar"),
    Market("QA", "atlas", 2, (("ar", 0.7), ("en", 0.3)), "Asia/Qatar", "ar"),
    Market("BH", "atlas", 1, (("ar", 0.8), ("en", 0.2)), "Asia/Bahrain", "ar"),
    Market("OM", "atlas", 1, (("ar", 0.9), ("en", 0.1)), "Asia/Muscat", "ar"),
    Market("EG", "atlas", 5, (("ar", 1),), "Africa/Cairo", "ar"),
    Market("JO", "atlas", 2, (("ar", 1),), "Asia/Amman", "ar"),
    # Nova: continental Europe, Latin America, South-East Asia
    Market("DE", "nova", 10, (("de", 1),), "Europe/Berlin", "de"),
    Market("AT", "nova", 2, (("de", 1),), "Europe/Vienna", "de"),
    Market("CH", "nova", 2, (("de", 0.7), ("fr", 0.3)), "Europe/Zurich", "de"),
    Market("IT", "nova", 8, (("it", 1),), "Europe/Rome", "it"),
    Market("ES", "nova", 8, (("es", 1),), "Europe/Madrid", "es"),
    Market("FR", "nova", 6, (("fr", 1),), "Europe/Paris", "fr"),
    Market("PL", "nova", 5, (("pl", 1),), "Europe/Warsaw", "pl"),
    Market("NL", "nova", 3, (("nl", 0.8), ("en", 0.2)), "Europe/Amsterdam", "nl"),
    Market("PT", "nova", 2, (("pt", 1),), "Europe/Lisbon", "pt"),
    Market("SE", "nova", 2, (("sv", 0.7), ("en", 0.3)), "Europe/Stockholm", "sv"),
    Market("BR", "nova", 6, (("pt", 1),), "America/Sao_Paulo", "pt"),
    Market("MX", "nova", 4, (("es", 1),), "America/Mexico_City", "es"),
    Market("CO", "nova", 3, (("es", 1),), "America/Bogota", "es"),
    Market("CL", "nova", 2, (("es", 1),), "America/Santiago", "es"),
    Market("MY", "nova", 3, (("ms", 0.6), ("en", 0.4)), "Asia/Kuala_Lumpur", "my"),
    Market("TH", "nova", 3, (("th", 1),), "Asia/Bangkok", "th"),
    Market("VN", "nova", 3, (("vi", 1),), "Asia/Ho_Chi_Minh", "vi"),
)

BRAND_SHARE = (("atlas", 0.64), ("nova", 0.36))

# (first names, last names) per naming tradition.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("Oliver", "Amelia", "George", "Isla", "Harry", "Olivia", "Jack", "Emily", "Charlie", "Sophie",
            "Thomas", "Grace", "James", "Chloe", "William", "Lucy", "Daniel", "Hannah", "Samuel", "Jessica",
            "Liam", "Ella", "Noah", "Mia", "Ethan", "Ruby", "Connor", "Aoife", "Mason", "Zoe"),
           ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
            "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson",
            "Clarke", "Murphy", "Kelly", "Byrne", "Walsh", "O'Brien", "Campbell", "Stewart", "Mitchell")),
    "za": (("Thabo", "Sipho", "Lerato", "Naledi", "Pieter", "Johan", "Anika", "Zanele", "Lwazi", "Kagiso",
            "Ruan", "Nomvula", "Bongani", "Mpho", "Elize", "Themba", "Ayesha", "Priyanka"),
           ("Nkosi", "Dlamini", "Botha", "van der Merwe", "Naidoo", "Mokoena", "Pretorius", "Khumalo",
            "Ndlovu", "Steyn", "Mahlangu", "Coetzee", "Venter", "Zulu", "Pillay", "Mthembu")),
    "ng": (("Chinedu", "Ngozi", "Emeka", "Adaeze", "Oluwaseun", "Funmilayo", "Tunde", "Chiamaka",
            "Ifeanyi", "Yetunde", "Babajide", "Amaka", "Musa", "Aisha"),
           ("Okafor", "Adeyemi", "Okonkwo", "Balogun", "Eze", "Adebayo", "Nwosu", "Ogunleye", "Chukwu",
            "Afolabi", "Obi", "Bello", "Ibrahim", "Abubakar")),
    "ke": (("Wanjiru", "Brian", "Achieng", "Kevin", "Njeri", "Dennis", "Akinyi", "Faith", "Wambui",
            "Collins", "Chebet", "Mercy"),
           ("Kamau", "Mwangi", "Otieno", "Odhiambo", "Wanjiku", "Kariuki", "Kiprono", "Njoroge", "Ochieng",
            "Mutua", "Wafula", "Cheruiyot")),
    "ar": (("Mohammed", "Ahmed", "Fatima", "Omar", "Aisha", "Khalid", "Noura", "Youssef", "Layla",
            "Abdullah", "Mariam", "Hassan", "Sara", "Faisal", "Huda", "Tariq", "Reem", "Saeed", "Dana",
            "Karim", "Yasmin", "Majed", "Hind", "Rashid"),
           ("Al-Mansouri", "Al-Harbi", "Al-Qahtani", "Haddad", "Khalil", "Nasser", "Hamdan", "Saleh",
            "Al-Otaibi", "Mahmoud", "Abdelrahman", "El-Sayed", "Farouk", "Al-Mutairi", "Al-Shammari",
            "Qasim", "Barakat", "Darwish", "Ibrahim", "Aziz")),
    "de": (("Lukas", "Anna", "Felix", "Lena", "Jonas", "Laura", "Maximilian", "Julia", "Paul", "Sophie",
            "Leon", "Marie", "Tobias", "Katharina", "Jan", "Lisa"),
           ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann",
            "Schulz", "Koch", "Richter", "Bauer", "Wolf", "Schröder", "Neumann")),
    "it": (("Giulia", "Marco", "Francesca", "Alessandro", "Chiara", "Luca", "Sara", "Matteo", "Valentina",
            "Andrea", "Martina", "Davide", "Elena", "Simone", "Federica", "Lorenzo"),
           ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
            "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Costa", "Giordano")),
    "es": (("Lucía", "Hugo", "María", "Pablo", "Carmen", "Javier", "Sofía", "Alejandro", "Valeria",
            "Diego", "Camila", "Mateo", "Paula", "Santiago", "Daniela", "Andrés"),
           ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
            "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Torres", "Ramírez",
            "Vargas")),
    "fr": (("Camille", "Louis", "Léa", "Gabriel", "Manon", "Arthur", "Chloé", "Jules", "Inès", "Lucas",
            "Emma", "Nathan", "Juliette", "Antoine", "Sarah", "Théo"),
           ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
            "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Fournier", "Girard")),
    "pl": (("Jakub", "Zuzanna", "Kacper", "Julia", "Szymon", "Maja", "Mateusz", "Zofia", "Bartosz",
            "Aleksandra", "Piotr", "Natalia", "Tomasz", "Agnieszka", "Michał", "Katarzyna"),
           ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski",
            "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski")),
    "nl": (("Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Milan", "Sophie", "Levi", "Fenna", "Thijs",
            "Anna"),
           ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
            "Smit", "Meijer", "de Boer", "Mulder")),
    "pt": (("João", "Ana", "Pedro", "Beatriz", "Gabriel", "Mariana", "Lucas", "Larissa", "Rafael",
            "Juliana", "Tiago", "Inês", "Gustavo", "Camila", "Bruno", "Fernanda"),
           ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Rodrigues", "Almeida", "Nascimento",
            "Lima", "Ferreira", "Carvalho", "Gomes", "Martins", "Ribeiro", "Alves")),
    "sv": (("Erik", "Astrid", "Lars", "Ingrid", "Anders", "Maja", "Johan", "Elsa", "Nils", "Freja",
            "Oskar", "Linnea"),
           ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
            "Svensson", "Gustafsson", "Lindberg", "Lindqvist")),
    "my": (("Muhammad", "Nur", "Ahmad", "Siti", "Amir", "Aisyah", "Hafiz", "Farah", "Danial", "Aina",
            "Wei Jie", "Mei Ling", "Arjun", "Kavitha"),
           ("Abdullah", "Rahman", "Ismail", "Hassan", "Tan", "Lim", "Lee", "Wong", "Ng", "Yusof", "Razak",
            "Subramaniam")),
    "th": (("Somchai", "Siriporn", "Anan", "Kanya", "Niran", "Pimchanok", "Chaiwat", "Napat", "Thanawat",
            "Suda"),
           ("Saetang", "Srisuk", "Wongsawat", "Chaiyaporn", "Rattanakorn", "Boonmee", "Suwannarat",
            "Kaewkla", "Thongchai", "Phromma")),
    "vi": (("Minh", "Lan", "Huong", "Tuan", "Anh", "Linh", "Duc", "Mai", "Quang", "Thao", "Hieu", "Trang"),
           ("Nguyen", "Tran", "Le", "Pham", "Hoang", "Phan", "Vu", "Dang", "Bui", "Do", "Ho", "Ngo")),
    "sg": (("Wei Ling", "Jun Hao", "Hui Min", "Zhi Hao", "Rachel", "Marcus", "Priya", "Arjun", "Jasmine",
            "Darren"),
           ("Tan", "Lim", "Lee", "Ng", "Ong", "Wong", "Goh", "Chua", "Koh", "Teo", "Nair", "Kumar")),
}

# Some Arabic-speaking clients are on file in Arabic script (it exercises right-to-left display).
ARABIC_SCRIPT: dict[str, str] = {
    "Mohammed": "محمد", "Ahmed": "أحمد", "Fatima": "فاطمة", "Omar": "عمر", "Aisha": "عائشة",
    "Khalid": "خالد", "Noura": "نورة", "Youssef": "يوسف", "Layla": "ليلى", "Abdullah": "عبدالله",
    "Mariam": "مريم", "Hassan": "حسن", "Sara": "سارة", "Faisal": "فيصل", "Huda": "هدى", "Tariq": "طارق",
    "Reem": "ريم", "Saeed": "سعيد", "Dana": "دانة", "Karim": "كريم", "Yasmin": "ياسمين", "Majed": "ماجد",
    "Hind": "هند", "Rashid": "راشد",
    "Al-Mansouri": "المنصوري", "Al-Harbi": "الحربي", "Al-Qahtani": "القحطاني", "Haddad": "حداد",
    "Khalil": "خليل", "Nasser": "ناصر", "Hamdan": "حمدان", "Saleh": "صالح", "Al-Otaibi": "العتيبي",
    "Mahmoud": "محمود", "Abdelrahman": "عبدالرحمن", "El-Sayed": "السيد", "Farouk": "فاروق",
    "Al-Mutairi": "المطيري", "Al-Shammari": "الشمري", "Qasim": "قاسم", "Barakat": "بركات",
    "Darwish": "درويش", "Ibrahim": "إبراهيم", "Aziz": "عزيز",
}

# Reserved example domains (RFC 2606): nothing the demo does can reach a real mailbox.
EMAIL_DOMAINS = (("example.com", 5), ("example.net", 3), ("example.org", 2))

# --- the funnel ------------------------------------------------------------------------------------

STAGE_PATH = ("lead", "registered", "verified", "funded", "active", "dormant")
STAGE_WEIGHTS = (("lead", 36), ("registered", 20), ("verified", 12), ("funded", 10), ("active", 13),
                 ("dormant", 6), ("closed", 3))
# Each move along the path takes between these many hours.
STEP_HOURS: dict[str, tuple[float, float]] = {
    "registered": (0.2, 120), "verified": (1, 168), "funded": (1, 240), "active": (0.2, 48),
    "dormant": (720, 1800), "closed": (24, 720),
}
# A client at this final stage was created at least this many days before now.
MIN_AGE_DAYS = {"lead": 0, "registered": 0.05, "verified": 0.5, "funded": 1, "active": 2, "dormant": 40,
                "closed": 3}
CLOSE_REASONS = ("Not interested in trading", "Duplicate registration", "Asked to close the account",
                 "Could not be reached after many attempts", "Failed age verification")


# --- attribution -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attribution:
    source: str = ""
    campaign: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    referrer_code: str = ""


SOURCES = (("google", 30), ("facebook", 16), ("instagram", 6), ("affiliate", 14), ("ib", 8),
           ("organic", 14), ("referral", 5), ("webinar", 4), ("tiktok", 3))
CAMPAIGNS: dict[str, tuple[str, ...]] = {
    "atlas-en": ("uk-gold-spring", "au-indices-launch", "za-forex-academy", "ng-mobile-app", "global-cfd-brand"),
    "atlas-ar": ("gcc-islamic-account", "mena-gold-webinar", "ksa-mobile-app", "egypt-forex-academy"),
    "nova": ("eu-cfd-education", "de-indices-brand", "latam-forex-launch", "asia-mobile-app", "it-es-retarget"),
}
SEARCH_TERMS = ("forex trading", "trade gold online", "cfd broker", "best trading app", "oil trading",
                "indices trading", "forex broker regulated", "islamic trading account", "copy trading")
AFFILIATES = ("fxreviewhub", "tradersclub", "pipsdaily", "brokerwatch", "chartschool")
CREATIVES = ("video-15s", "carousel-gold", "static-app", "story-webinar", "lead-form-a", "lead-form-b")
TAGS = (("high-value", 6), ("vip", 3), ("webinar-attendee", 8), ("mobile-app", 12), ("crypto-interest", 7),
        ("gold-trader", 9), ("callback-requested", 6), ("do-not-call", 2), ("newsletter", 10))


# --- notes and tasks -----------------------------------------------------------------------------------

NOTES: dict[str, tuple[str, ...]] = {
    "lead": (
        "Called, no answer. Will try again tomorrow morning their time.",
        "Spoke briefly: interested in gold and oil, asked for a call back after work.",
        "Left a voicemail and sent the introduction email with the platform link.",
        "Wrong time zone on the lead form; the client is actually in {country}. Updated.",
        "Client asked how spreads work on indices. Explained and sent the pricing page.",
        "Busy at work, prefers WhatsApp. Sent a short message with my details.",
    ),
    "registered": (
        "Registered on the portal. Walked through the verification steps on the phone.",
        "Client unsure which ID document to upload; explained proof of address requirements.",
        "Demo account opened; will follow up after a few days of practice.",
        "Asked about leverage limits for retail clients. Explained the regulatory caps.",
    ),
    "verified": (
        "Documents approved. Discussed deposit methods: card and bank transfer.",
        "Client wants to start small, around 500, and build up. Sent the risk disclosure again.",
        "Verified. Explained the difference between the standard and raw spread accounts.",
    ),
    "funded": (
        "First deposit in. Booked a platform walkthrough for next week.",
        "Funded by bank transfer. Client wants a market outlook call on Mondays.",
        "Client asked about withdrawals; explained timing and the original-method rule.",
    ),
    "active": (
        "Trading mostly EUR/USD and gold. Happy with execution so far.",
        "Client attended the webinar on central bank week. Asked for the slides.",
        "Discussed risk per trade; client agreed to use stop losses consistently.",
        "Asked about the loyalty programme; explained the tiers.",
    ),
    "dormant": (
        "No trades for several weeks. Client busy with a new job, may return next quarter.",
        "Reactivation call: client unhappy about slippage during news, escalated to dealing.",
        "Sent the monthly market outlook; no reply yet.",
    ),
    "closed": (
        "Client asked us to stop contacting them. Marked do-not-call.",
        "Duplicate of an existing account; merged details into the older file.",
    ),
}
TASKS: dict[str, tuple[tuple[str, str], ...]] = {
    "lead": (("Call back {first}", "Second attempt; try after 5 pm local time."),
             ("Send platform demo link", ""),
             ("Qualify trading experience", "Ask about previous brokers and instruments.")),
    "registered": (("Chase KYC documents", "Proof of address still missing."),
                   ("Explain verification steps", "")),
    "verified": (("Walk through first deposit", "Card or bank transfer; explain limits."),
                 ("Follow up on deposit intent", "")),
    "funded": (("Platform walkthrough", "Order types, stop loss, take profit."),
               ("Check-in after first trades", "")),
    "active": (("Monthly account review", "Trading activity, margin use, open questions."),
               ("Invite to the market outlook webinar", "")),
    "dormant": (("Reactivation call", "Ask what stopped them trading; offer the education pack."),
                ("Send market update", "")),
}

STAFF_TASKS: dict[str, tuple[tuple[str, str], ...]] = {
    "admin": (("Turn two-factor login back on for privileged roles before go-live", "today"),
              ("Rotate the lead vendor's API key", "overdue"), ("Review the staff access list", "future")),
    "desk_manager": (("Route this morning's unassigned leads", "today"), ("Approve the agents' leave requests",
                     "overdue"), ("Weekly desk KPI review", "future")),
    "compliance": (("Work through the KYC documents queue", "today"), ("Sign off the monthly AML report",
                   "overdue"), ("Quarterly sanctions list review", "future")),
    "finance": (("Reconcile yesterday's PSP settlements", "today"), ("Approve pending withdrawals", "overdue"),
                ("Month-end close checklist", "future")),
    "ib_manager": (("Answer the commission dispute from IB-2031", "overdue"), ("Review new IB applications",
                   "today"), ("Prepare the monthly IB statements", "future")),
    "dealer": (("Check the large XAU/USD exposure", "overdue"), ("Review overnight swap rates", "today"),
               ("Weekly toxic flow review", "future")),
}


# --- the plan: everything decided before anything is written ------------------------------------------

@dataclass
class NotePlan:
    author: str  # staff email
    body: str
    at: datetime


@dataclass
class TaskPlan:
    assignee: str  # staff email
    title: str
    description: str
    created_at: datetime
    due_at: datetime
    remind_at: datetime | None
    done_at: datetime | None


@dataclass
class ClientPlan:
    index: int
    brand: str
    desk: str | None
    owner: str | None  # staff email
    first_name: str
    last_name: str
    email: str
    phone: str
    country: str
    language: str
    timezone: str
    date_of_birth: date
    attribution: Attribution
    tags: list[str]
    created_at: datetime
    # Moves after creation, in order: (stage, when, actor email or None for the system, reason).
    steps: list[tuple[str, datetime, str | None, str]] = field(default_factory=list)
    notes: list[NotePlan] = field(default_factory=list)
    tasks: list[TaskPlan] = field(default_factory=list)

    @property
    def stage(self) -> str:
        return self.steps[-1][0] if self.steps else "lead"

    @property
    def stage_changed_at(self) -> datetime:
        return self.steps[-1][1] if self.steps else self.created_at

    def actions(self) -> list[tuple[datetime, int, str, Any]]:
        """Everything that happens to the client after creation, in time order (ties keep kind order)."""
        items: list[tuple[datetime, int, str, Any]] = []
        for step in self.steps:
            items.append((step[1], 0, "stage", step))
        for note in self.notes:
            items.append((note.at, 1, "note", note))
        for task in self.tasks:
            items.append((task.created_at, 2, "task", task))
            if task.done_at is not None:
                items.append((task.done_at, 3, "task_done", task))
        items.sort(key=lambda item: (item[0], item[1]))
        return items


def _weighted[T](rng: random.Random, options: Sequence[tuple[T, float]]) -> T:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options], k=1)[0]


def _ascii(text: str) -> str:
    text = text.replace("ß", "ss").replace("ł", "l").replace("Ł", "L").replace("ø", "o")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _phone(rng: random.Random, country: str, used: set[str]) -> str:
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    keep = max(len(national) - 6, 1)
    for _ in range(50):
        digits = national[:keep] + "".join(str(rng.randrange(10)) for _ in range(len(national) - keep))
        number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(digits))
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in used and phonenumbers.is_valid_number(number):
            used.add(e164)
            return e164
    return ""  # no valid free number found: the client simply has no phone on file


def _local_day_end(moment: datetime, tz_name: str) -> datetime:
    tz = zoneinfo.ZoneInfo(tz_name)
    local = moment.astimezone(tz)
    return datetime.combine(local.date(), time(23, 59), tzinfo=tz).astimezone(moment.tzinfo)


class Planner:
    """Decides the whole demo data set from the seed. Pure: no database access."""

    def __init__(self, *, clients: int, now: datetime, seed: int = SEED) -> None:
        self.count = clients
        self.now = now
        self.seed = seed
        self.rng = random.Random(seed)
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.staff = {s.email: s for s in STAFF}
        self.desk_by_key = {d.key: d for d in DESKS}
        self.agents: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for spec in STAFF:
            if spec.role in ("sales_agent", "retention_agent") and spec.desk:
                # Books differ in size: seniority, hours, languages.
                self.agents[spec.desk].append((spec.email, 1.0 + 0.25 * len(self.agents[spec.desk])))
        self.managers = {s.manages: s.email for s in STAFF if s.manages}
        self.compliance = next(s.email for s in STAFF if s.role == "compliance")

    def plan(self) -> list[ClientPlan]:
        plans = [self._client(i) for i in range(self.count)]
        self._guarantee_task_mix(plans)
        return plans

    # one client

    def _client(self, index: int) -> ClientPlan:
        # A stream of its own per client, and who the client is drawn before anything that depends
        # on the time of day of the run: the same clients every run, only their dates move.
        rng = self.rng = random.Random(f"{self.seed}:{index}")
        # The first few cover every stage, so that even a small demo shows the whole funnel.
        final = STAGE_WEIGHTS[index][0] if index < len(STAGE_WEIGHTS) else _weighted(rng, STAGE_WEIGHTS)
        brand = _weighted(rng, BRAND_SHARE)
        market = _weighted(rng, [(m, m.weight) for m in MARKETS if m.brand == brand])
        language = _weighted(rng, market.languages)
        first, last = self._name(market, language)
        desk = self._desk(brand, market.country, language)
        email = self._email(first, last, index)
        phone = _phone(rng, market.country, self.phones)
        attribution = self._attribution(brand, desk, market.country)
        tags = self._tags(language, market.country)
        age_days = self._age_days(final)
        owner = self._owner(desk, final, age_days)
        plan = ClientPlan(
            index=index, brand=brand, desk=desk, owner=owner, first_name=first, last_name=last,
            email=email, phone=phone, country=market.country, language=language, timezone=market.timezone,
            date_of_birth=self._birth_date(), attribution=attribution, tags=tags,
            created_at=self._created_at(age_days),
        )
        self._display_name(plan)
        self._steps(plan, final)
        self._notes(plan)
        self._tasks(plan)
        return plan

    def _name(self, market: Market, language: str) -> tuple[str, str]:
        # Names follow the country, whatever language the client prefers to be served in.
        firsts, lasts = NAMES[market.names]
        return self.rng.choice(firsts), self.rng.choice(lasts)

    def _display_name(self, plan: ClientPlan) -> None:
        if plan.language == "ar" and self.rng.random() < 0.3:
            plan.first_name = ARABIC_SCRIPT.get(plan.first_name, plan.first_name)
            plan.last_name = ARABIC_SCRIPT.get(plan.last_name, plan.last_name)

    def _email(self, first: str, last: str, index: int) -> str:
        rng = self.rng
        f, surname = _ascii(first), _ascii(last)
        pattern = rng.randrange(5)
        local = (f"{f}.{surname}", f"{f}{surname}{rng.randrange(1, 99)}", f"{f[0]}{surname}",
                 f"{f}_{surname}", f"{surname}.{f}{rng.randrange(70, 100)}")[pattern]
        domain = _weighted(rng, EMAIL_DOMAINS)
        email = f"{local}@{domain}"
        n = 2
        while email in self.emails:
            email = f"{local}{n}@{domain}"
            n += 1
        self.emails.add(email)
        return email

    def _desk(self, brand: str, country: str, language: str) -> str:
        if brand == "nova":
            return "nova-ret"
        arabic = self.desk_by_key["atlas-ar"]
        return "atlas-ar" if country in arabic.countries and language == "ar" else "atlas-en"

    def _owner(self, desk: str, final: str, age_days: float) -> str | None:
        # Both draws always happen, so that the stream does not depend on the branch taken.
        coin, agent = self.rng.random(), _weighted(self.rng, self.agents[desk])
        # Fresh leads wait on the desk for routing; Nova's retention desk only takes on clients
        # once they have moved past a first contact.
        if final == "lead" and age_days < 2 and coin < 0.5:
            return None
        if desk == "nova-ret" and final == "lead" and age_days < 7:
            return None
        return agent

    def _age_days(self, final: str) -> float:
        # More recent clients than old ones: marketing spend grew over the period.
        low = MIN_AGE_DAYS[final]
        return low + (HISTORY_DAYS - low) * (self.rng.random() ** 1.35)

    def _created_at(self, days: float) -> datetime:
        moment = self.now - timedelta(days=days)
        # Leads arrive mostly in the daytime of the brokerage (06:00-22:00 UTC).
        hour = 6 + self.rng.random() * 16
        moment = moment.replace(hour=int(hour), minute=int((hour % 1) * 60), second=self.rng.randrange(60),
                                microsecond=0)
        return min(moment, self.now - timedelta(minutes=5 + self.rng.randrange(120)))

    def _birth_date(self) -> date:
        age_days = int(self.rng.triangular(21, 70, 34) * 365.25)
        return (self.now - timedelta(days=age_days)).date()

    def _attribution(self, brand: str, desk: str | None, country: str) -> Attribution:
        rng = self.rng
        source = _weighted(rng, SOURCES)
        campaign = rng.choice(CAMPAIGNS["nova" if brand == "nova" else (desk or "atlas-en")])
        if source == "google":
            return Attribution(source, campaign, "google", "cpc", campaign, rng.choice(SEARCH_TERMS),
                               f"ad-{rng.randrange(1, 40):02d}")
        if source in ("facebook", "instagram", "tiktok"):
            return Attribution(source, campaign, source, "paid_social", campaign, "", rng.choice(CREATIVES))
        if source == "affiliate":
            partner = rng.choice(AFFILIATES)
            return Attribution(source, campaign, partner, "affiliate", campaign, "", "",
                               f"AFF-{rng.randrange(1000, 1100)}")
        if source == "ib":
            return Attribution(source, "", "", "", "", "", "", f"IB-{rng.randrange(2000, 2060)}")
        if source == "referral":
            return Attribution(source, "", "", "referral", "", "", "", f"REF-{rng.randrange(10000, 99999)}")
        if source == "webinar":
            name = "webinar-" + rng.choice(("gold-outlook", "central-banks", "trading-psychology"))
            return Attribution(source, name, "webinar", "email", name)
        return Attribution("organic")

    def _tags(self, language: str, country: str) -> list[str]:
        tags = [tag for tag, pct in TAGS if self.rng.random() * 100 < pct]
        if language == "ar" and self.rng.random() < 0.3:
            tags.append("islamic-account")
        return tags

    def _steps(self, plan: ClientPlan, final: str) -> None:
        rng = self.rng
        if final == "closed":
            path = list(STAGE_PATH[1:1 + rng.choice((0, 0, 0, 1, 1, 2, 4))]) + ["closed"]
        else:
            path = list(STAGE_PATH[1:STAGE_PATH.index(final) + 1])
        moments: list[datetime] = []
        at = plan.created_at
        for stage in path:
            low, high = STEP_HOURS[stage]
            at = at + timedelta(hours=low + (high - low) * rng.random() ** 2)
            moments.append(at)
        latest = self.now - timedelta(minutes=2)
        if moments and moments[-1] > latest:
            # Squeeze the whole path into the time the client has existed.
            total = (moments[-1] - plan.created_at).total_seconds()
            room = (latest - plan.created_at).total_seconds()
            moments = [plan.created_at + timedelta(seconds=(m - plan.created_at).total_seconds() * room / total)
                       for m in moments]
        for stage, moment in zip(path, moments, strict=True):
            actor: str | None = None
            reason = ""
            if stage == "verified":
                actor = self.compliance
            elif stage == "closed":
                actor = plan.owner or self.managers.get(plan.desk or "")
                reason = rng.choice(CLOSE_REASONS)
            plan.steps.append((stage, moment, actor, reason))

    def _stage_at(self, plan: ClientPlan, moment: datetime) -> str:
        stage = "lead"
        for step_stage, at, _, _ in plan.steps:
            if at <= moment:
                stage = step_stage
        return stage

    def _random_moment(self, plan: ClientPlan, *, after: datetime | None = None) -> datetime:
        start = after or plan.created_at
        span = max((self.now - timedelta(minutes=1) - start).total_seconds(), 1)
        return start + timedelta(seconds=span * self.rng.random())

    def _notes(self, plan: ClientPlan) -> None:
        rng = self.rng
        count = _weighted(rng, ((0, 25), (1, 40), (2, 22), (3, 13)))
        author = plan.owner or self.managers.get(plan.desk or "")
        if author is None:
            return
        used: set[str] = set()
        for _ in range(count):
            at = self._random_moment(plan)
            stage = self._stage_at(plan, at)
            writer = author if rng.random() < 0.85 else self.managers.get(plan.desk or "", author)
            choices = [b for b in NOTES[stage] if b not in used] or list(NOTES[stage])
            template = rng.choice(choices)
            used.add(template)
            body = template.format(country=plan.country, first=plan.first_name)
            plan.notes.append(NotePlan(author=writer, body=body, at=at))
        plan.notes.sort(key=lambda n: n.at)

    def _tasks(self, plan: ClientPlan) -> None:
        rng = self.rng
        assignee = plan.owner or self.managers.get(plan.desk or "")
        if assignee is None or plan.stage == "closed":
            return
        count = _weighted(rng, ((0, 45), (1, 38), (2, 17)))
        tz = self.staff[assignee].timezone
        for n in range(count):
            created = self._random_moment(plan)
            stage = self._stage_at(plan, created)
            title, description = rng.choice(TASKS.get(stage, TASKS["active"]))
            title = title.format(first=plan.first_name)
            open_task = n == count - 1 and rng.random() < 0.6
            if open_task:
                kind = _weighted(rng, (("overdue", 30), ("today", 20), ("future", 50)))
                due = self._due(kind, created, tz)
                done = None
            else:
                due = created + timedelta(hours=rng.uniform(2, 96))
                done_at = min(due + timedelta(hours=rng.uniform(-24, 24)), self.now - timedelta(minutes=1))
                done = max(done_at, created + timedelta(minutes=5))
                if done >= self.now:
                    done = None
            remind = due - timedelta(minutes=15) if done is None and due > self.now else None
            plan.tasks.append(TaskPlan(assignee=assignee, title=title, description=description,
                                       created_at=created, due_at=due, remind_at=remind, done_at=done))
        plan.tasks.sort(key=lambda t: t.created_at)

    def _due(self, kind: str, created: datetime, tz: str) -> datetime:
        rng = self.rng
        if kind == "overdue":
            earliest = max(created + timedelta(hours=1), self.now - timedelta(days=10))
            if earliest >= self.now - timedelta(minutes=30):
                return self.now - timedelta(minutes=10)
            return earliest + (self.now - timedelta(minutes=30) - earliest) * rng.random()
        if kind == "today":
            end = _local_day_end(self.now, tz)
            room = (end - self.now).total_seconds()
            share = rng.random()
            if room < 1800:
                return self.now + timedelta(minutes=20)
            return self.now + timedelta(seconds=900 + (room - 900) * share)
        return self.now + timedelta(hours=rng.uniform(26, 14 * 24))

    def _guarantee_task_mix(self, plans: list[ClientPlan]) -> None:
        """Every agent and desk manager with a book sees overdue tasks and tasks due today."""
        self.rng = random.Random(f"{self.seed}:tasks")
        open_by_assignee: dict[str, list[TaskPlan]] = defaultdict(list)
        for plan in plans:
            for task in plan.tasks:
                if task.done_at is None:
                    open_by_assignee[task.assignee].append(task)
        for assignee in sorted(open_by_assignee):
            tasks = open_by_assignee[assignee]
            tz = self.staff[assignee].timezone
            overdue = sum(1 for t in tasks if t.due_at < self.now)
            today = sum(1 for t in tasks if self.now <= t.due_at <= _local_day_end(self.now, tz))
            future = [t for t in tasks if t.due_at > _local_day_end(self.now, tz)]
            for task in future:
                if overdue >= 2 and today >= 2:
                    break
                kind = "overdue" if overdue < 2 else "today"
                task.due_at = self._due(kind, task.created_at, tz)
                task.remind_at = task.due_at - timedelta(minutes=15) if task.due_at > self.now else None
                if kind == "overdue":
                    overdue += 1
                else:
                    today += 1


def plan_checksum(plans: Iterable[ClientPlan]) -> str:
    """SHA-256 over what must not vary between runs: who each client is and where they are in the funnel."""
    digest = hashlib.sha256()
    for p in plans:
        digest.update(f"{p.email}|{p.first_name}|{p.last_name}|{p.country}|{p.language}|{p.stage}|"
                      f"{p.brand}|{p.desk}|{p.owner}|{p.phone}\n".encode())
    return digest.hexdigest()


def clients_checksum(rows: Iterable[tuple[str, str, str, str, str, str, str, str | None, str | None, str]]) -> str:
    """The same checksum computed from the database (see `database_checksum`)."""
    digest = hashlib.sha256()
    for email, first, last, country, language, stage, brand, desk, owner, phone in rows:
        digest.update(f"{email}|{first}|{last}|{country}|{language}|{stage}|{brand}|{desk}|{owner}|{phone}\n".encode())
    return digest.hexdigest()


# --- writing it --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Login:
    role: str
    email: str
    password: str


@dataclass
class SeedResult:
    created: bool
    logins: list[Login]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    via_services: int = 0
    notes: list[str] = field(default_factory=list)


def demo_logins() -> list[Login]:
    return [Login(s.role, s.email, s.password) for s in staff_sorted()]


DEMO_2FA_NOTE = (
    "Two-factor login is OFF for the demo's privileged roles (admin, compliance, finance) so that "
    "every demo login works at once. In production mark those roles privileged again "
    "(staff administration, or crm.staff_services.role_set_requires_2fa)."
)


def demo_present() -> bool:
    from crm.models import Brand

    return Brand.objects.filter(code__in=DEMO_BRAND_CODES).exists()


def seed(*, clients: int = DEFAULT_CLIENTS, via_services: int = DEFAULT_VIA_SERVICES,
         progress: Callable[[str], None] | None = None) -> SeedResult:
    """Write the demo data unless it is already there (then nothing is written).

    One transaction: a failure leaves nothing behind, and a second concurrent run waits for the
    first and then finds the data present.
    """
    from django.db import connection, transaction

    from crm.lib import context

    started = monotonic()
    say = progress or (lambda _msg: None)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEED_LOCK])
        if demo_present():
            return SeedResult(created=False, logins=demo_logins(), seconds=monotonic() - started)
        request_id = f"seed-demo-{uuid.uuid4().hex[:16]}"
        with context.acting_as(None, source="system", request_id=request_id):
            writer = _Writer(clients=clients, via_services=via_services, say=say, request_id=request_id)
            result = writer.run()
    result.seconds = monotonic() - started
    return result


# Arbitrary constant naming the seed's advisory lock.
_SEED_LOCK = 0x5345454444454D4F  # "SEEDDEMO"


class _Writer:
    def __init__(self, *, clients: int, via_services: int, say: Callable[[str], None], request_id: str) -> None:
        from django.utils import timezone

        self.now = timezone.now()
        self.clients = clients
        self.via_services = max(0, min(via_services, clients))
        self.say = say
        self.request_id = request_id
        self.users: dict[str, Any] = {}
        self.brands: dict[str, Any] = {}
        self.desks: dict[str, Any] = {}

    def run(self) -> SeedResult:
        from crm.models import Client, Event, Note, Task

        t0 = monotonic()
        self._organisation()
        self.say(f"organisation: {monotonic() - t0:.1f} s")
        plans = Planner(clients=self.clients, now=self.now).plan()
        t1 = monotonic()
        self._via_services(plans[: self.via_services])
        t2 = monotonic()
        self.say(f"{self.via_services} clients through the services: {t2 - t1:.1f} s")
        self._in_bulk(plans[self.via_services:])
        t3 = monotonic()
        self.say(f"{len(plans) - self.via_services} clients in bulk: {t3 - t2:.1f} s")
        self._staff_tasks()
        self._notifications()
        self._emails()
        # History, not news: nothing of the seed is handed to subscribers (see the module docstring).
        Event.objects.filter(request_id=self.request_id, dispatched_at__isnull=True).update(dispatched_at=self.now)
        counts = {
            "brands": len(self.brands), "desks": len(self.desks), "staff": len(self.users),
            "clients": Client.objects.filter(brand__in=self.brands.values()).count(),
            "notes": Note.objects.filter(client__brand__in=self.brands.values()).count(),
            "tasks": Task.objects.filter(client__brand__in=self.brands.values()).count(),
            "events": Event.objects.filter(request_id=self.request_id).count(),
        }
        return SeedResult(created=True, logins=demo_logins(), counts=counts, via_services=self.via_services,
                          notes=[DEMO_2FA_NOTE])

    # staff and structure

    def _organisation(self) -> None:
        from crm.audit import audit_record, model_snapshot
        from crm.models import Brand, Role
        from crm.roles import roles_sync
        from crm.services import user_create
        from crm.staff_services import desk_create, desk_update, role_set_requires_2fa

        roles_sync()
        started = monotonic()
        self._hash_passwords()
        self.say(f"{len(STAFF)} demo passwords hashed: {monotonic() - started:.1f} s")
        for spec in BRANDS:
            # Brands have no service of their own yet: administrators create them in the admin site.
            brand = Brand.objects.create(code=spec.code, name=spec.name, default_currency=spec.currency)
            audit_record(action="brand.create", obj=brand,
                         after=model_snapshot(brand, ("code", "name", "default_currency")))
            self.brands[spec.code] = brand

        admin_spec = next(s for s in STAFF if s.role == "admin")
        admin = self._user(user_create, admin_spec, actor=None)
        for desk_spec in DESKS:
            self.desks[desk_spec.key] = desk_create(
                actor=admin, brand=self.brands[desk_spec.brand], name=desk_spec.name, kind=desk_spec.kind,
                countries=desk_spec.countries, languages=desk_spec.languages, timezone=desk_spec.timezone,
                work_start=desk_spec.work_start, work_end=desk_spec.work_end, work_days=desk_spec.work_days,
            )
        for spec in STAFF:
            if spec is not admin_spec:
                self._user(user_create, spec, actor=admin)
        for spec in STAFF:
            if spec.manages:
                desk_update(actor=admin, desk=self.desks[spec.manages], manager=self.users[spec.email],
                            reason="Demo data")
        for role in Role.objects.filter(requires_2fa=True).order_by("code"):
            role_set_requires_2fa(actor=admin, role=role, required=False,
                                  reason="Demo data: every demo login works without an authenticator app")

    def _hash_passwords(self) -> None:
        """Hash the demo passwords side by side: PBKDF2 takes about half a second each, and
        hashlib lets threads run it in parallel. Each is checked against the password rules first."""
        from concurrent.futures import ThreadPoolExecutor

        from django.contrib.auth.hashers import make_password
        from django.contrib.auth.password_validation import validate_password

        from crm.models import User

        for spec in STAFF:
            validate_password(spec.password, user=User(email=spec.email, full_name=spec.full_name))
        with ThreadPoolExecutor(max_workers=4) as pool:
            hashes = list(pool.map(make_password, [spec.password for spec in STAFF]))
        self.password_hashes = {spec.email: h for spec, h in zip(STAFF, hashes, strict=True)}

    def _user(self, user_create: Callable[..., Any], spec: StaffSpec, *, actor: Any) -> Any:
        from crm.models import User

        # The password is set from the hash made in _hash_passwords (it passed the same rules
        # user_create applies).
        user = user_create(
            actor=actor, email=spec.email, full_name=spec.full_name, role_code=spec.role, password=None,
            desk=self.desks.get(spec.desk) if spec.desk else None,
            brands=[self.brands[code] for code in spec.brands], all_brands=spec.all_brands,
            language=spec.language, timezone=spec.timezone,
        )
        user.password = self.password_hashes[spec.email]
        User.objects.filter(pk=user.pk).update(password=user.password)
        self.users[spec.email] = user
        return user

    def _staff_tasks(self) -> None:
        """Work of the day for everyone who is not an agent (agents have their clients' tasks)."""
        from crm.services import task_create

        for spec in STAFF:
            for title, when in STAFF_TASKS.get(spec.role, ()):
                user = self.users[spec.email]
                if when == "overdue":
                    due = self.now - timedelta(days=1, hours=3)
                elif when == "today":
                    room = _local_day_end(self.now, spec.timezone) - self.now
                    due = self.now + (room / 2 if room > timedelta(minutes=40) else timedelta(minutes=20))
                else:
                    due = self.now + timedelta(days=3)
                remind = due - timedelta(minutes=15) if due > self.now + timedelta(minutes=15) else None
                task_create(actor=user, title=title, assignee=user, due_at=due, remind_at=remind)

    def _staff(self, email: str | None) -> Any:
        return self.users[email] if email else None

    # clients through the services

    def _via_services(self, plans: list[ClientPlan]) -> None:
        from crm import services, stages
        from crm.lib import context
        from crm.models import Client, Event

        made: list[tuple[ClientPlan, Any, list[Any], list[Any]]] = []
        for plan in plans:
            owner = self._staff(plan.owner)
            a = plan.attribution
            with context.acting_as(owner, source="system", request_id=self.request_id):
                client = services.client_create(
                    actor=owner, brand=self.brands[plan.brand], first_name=plan.first_name,
                    last_name=plan.last_name, email=plan.email, phone=plan.phone, country=plan.country,
                    language=plan.language, timezone=plan.timezone, date_of_birth=plan.date_of_birth,
                    owner=owner, desk=self.desks.get(plan.desk) if plan.desk else None,
                    source=a.source, campaign=a.campaign, utm_source=a.utm_source, utm_medium=a.utm_medium,
                    utm_campaign=a.utm_campaign, utm_term=a.utm_term, utm_content=a.utm_content,
                    referrer_code=a.referrer_code, tags=plan.tags,
                )
            notes: list[Any] = []
            tasks: dict[int, Any] = {}
            for _, _, kind, item in plan.actions():
                if kind == "stage":
                    stage, _, actor_email, reason = item
                    actor = self._staff(actor_email)
                    proof = stages.stage_proof_for(stage)
                    with context.acting_as(actor, source="system", request_id=self.request_id):
                        if proof is not None:
                            # Verified, funded and active stand for a KYC approval, a deposit and a trade.
                            services.client_stage_prove(actor=actor, client=client, proof=proof)
                        else:
                            services.client_stage_change(actor=actor, client=client, stage=stage, reason=reason)
                elif kind == "note":
                    author = self._staff(item.author)
                    with context.acting_as(author, source="system", request_id=self.request_id):
                        notes.append(services.note_add(actor=author, client=client, body=item.body))
                elif kind == "task":
                    assignee = self._staff(item.assignee)
                    with context.acting_as(assignee, source="system", request_id=self.request_id):
                        tasks[id(item)] = services.task_create(
                            actor=assignee, title=item.title, assignee=assignee, client=client,
                            description=item.description, due_at=item.due_at, remind_at=item.remind_at,
                        )
                else:  # task_done
                    assignee = self._staff(item.assignee)
                    with context.acting_as(assignee, source="system", request_id=self.request_id):
                        services.task_complete(actor=assignee, task=tasks[id(item)])
            made.append((plan, client, notes, [tasks[id(t)] for t in plan.tasks]))

        # Backdate everything the services wrote to when it "happened".
        clients = [c for _, c, _, _ in made]
        events_by_client: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for event_id, client_id, name in (Event.objects.filter(client__in=clients).order_by("id")
                                          .values_list("id", "client_id", "name")):
            events_by_client[client_id].append((event_id, name))
        history_by_client = _history_ids(Client, [c.pk for c in clients])
        note_model_history = _history_ids(_model("Note"), [n.pk for _, _, ns, _ in made for n in ns])
        task_model_history = _history_ids(_model("Task"), [t.pk for _, _, _, ts in made for t in ts])

        client_rows, event_rows, hist_rows, note_rows, note_hist, task_rows, task_hist = [], [], [], [], [], [], []
        for plan, client, notes, tasks in made:
            client_rows.append((client.pk, plan.created_at, plan.stage_changed_at, plan.stage_changed_at))
            expected = [(plan.created_at, "client.created")] + [
                (when, {"stage": "client.stage_changed", "note": "note.added", "task": "task.created",
                        "task_done": "task.completed"}[kind])
                for when, _, kind, _ in plan.actions()
            ]
            event_rows += _match_times(events_by_client[client.pk], expected)
            client_moments = [plan.created_at] + [step[1] for step in plan.steps]
            hist_rows += _align(history_by_client.get(client.pk, []), client_moments)
            for note, note_plan in zip(notes, plan.notes, strict=True):
                note_rows.append((note.pk, note_plan.at, note_plan.at))
                note_hist += _align(note_model_history.get(note.pk, []), [note_plan.at])
            for task, task_plan in zip(tasks, plan.tasks, strict=True):
                task_rows.append((task.pk, task_plan.created_at, task_plan.done_at))
                moments = [task_plan.created_at] + ([task_plan.done_at] if task_plan.done_at else [])
                task_hist += _align(task_model_history.get(task.pk, []), moments)
        _update_rows(Client._meta.db_table, "id", ("created_at", "updated_at", "stage_changed_at"), client_rows)
        _update_rows(Event._meta.db_table, "id", ("occurred_at",), event_rows)
        _update_rows(Client.history.model._meta.db_table, "history_id", ("history_date",), hist_rows)
        _update_rows(_model("Note")._meta.db_table, "id", ("created_at", "updated_at"), note_rows)
        _update_rows(_model("Note").history.model._meta.db_table, "history_id", ("history_date",), note_hist)
        _update_rows(_model("Task")._meta.db_table, "id", ("created_at", "done_at"), task_rows)
        _update_rows(_model("Task").history.model._meta.db_table, "history_id", ("history_date",), task_hist)
        # The history rows' copies of the dates too, so that each row shows the object as it stood then.
        _sync_history_copies(Client, [c.pk for c in clients], created="o.created_at",
                             updated_at="h.history_date", stage_changed_at="h.history_date")
        _sync_history_copies(_model("Note"), [n.pk for _, _, ns, _ in made for n in ns],
                             created="o.created_at", updated_at="o.updated_at")
        _sync_history_copies(_model("Task"), [t.pk for _, _, _, ts in made for t in ts], created="o.created_at",
                             done_at="CASE WHEN h.done_at IS NULL THEN NULL ELSE o.done_at END")

    # clients in bulk

    def _in_bulk(self, plans: list[ClientPlan]) -> None:
        from crm.audit import audit_record
        from crm.models import Client, Event, Note, Task
        from crm.services import _excerpt
        from crm.stages import proof_reason, stage_proof_for

        if not plans:
            return
        batch = 500
        totals = {"clients": 0, "notes": 0, "tasks": 0, "events": 0}
        for start in range(0, len(plans), batch):
            chunk = plans[start:start + batch]
            objs = [self._client_obj(p) for p in chunk]
            Client.objects.bulk_create(objs, batch_size=batch)
            # bulk_create stamps auto_now(_add) fields with the present; put the planned past back.
            for client, plan in zip(objs, chunk, strict=True):
                client.created_at, client.updated_at = plan.created_at, plan.stage_changed_at
            _update_rows(Client._meta.db_table, "id", ("created_at", "updated_at", "stage_changed_at"),
                         [(c.pk, c.created_at, c.updated_at, c.stage_changed_at) for c in objs])

            history = []
            events = []
            notes: list[tuple[Any, NotePlan]] = []
            tasks: list[tuple[Any, TaskPlan]] = []
            for plan, client in zip(chunk, objs, strict=True):
                owner = self._staff(plan.owner)
                desk = self.desks.get(plan.desk) if plan.desk else None
                history.append(_history_row(Client, client, plan.created_at, "+", owner,
                                            stage="lead", stage_changed_at=plan.created_at,
                                            updated_at=plan.created_at))
                events.append(self._event("client.created", client, owner, plan.created_at, {
                    "name": client.full_name, "stage": "lead", "country": client.country,
                    "source": client.source, "campaign": client.campaign, "owner": _user_ref(owner),
                    "desk": _desk_ref(desk),
                }))
                previous = "lead"
                for stage, when, actor_email, reason in plan.steps:
                    actor = self._staff(actor_email)
                    history.append(_history_row(Client, client, when, "~", actor, stage=stage,
                                                stage_changed_at=when, updated_at=when))
                    move = {"from": previous, "to": stage, "reason": reason, "via": "move"}
                    proof = stage_proof_for(stage)
                    if proof is not None:  # as client_stage_prove records it
                        move.update(reason=proof_reason(proof), via=str(proof.value))
                    events.append(self._event("client.stage_changed", client, actor, when, move))
                    previous = stage
                for note_plan in plan.notes:
                    note = Note(client=client, author=self._staff(note_plan.author), body=note_plan.body,
                                created_at=note_plan.at, updated_at=note_plan.at)
                    notes.append((note, note_plan))
                for task_plan in plan.tasks:
                    assignee = self._staff(task_plan.assignee)
                    task = Task(client=client, title=task_plan.title, description=task_plan.description,
                                assignee=assignee, created_by=assignee, due_at=task_plan.due_at,
                                remind_at=task_plan.remind_at, done_at=task_plan.done_at,
                                done_by=assignee if task_plan.done_at else None, created_at=task_plan.created_at)
                    tasks.append((task, task_plan))
            Client.history.model.objects.bulk_create(history, batch_size=1000)

            Note.objects.bulk_create([n for n, _ in notes], batch_size=1000)
            _update_rows(Note._meta.db_table, "id", ("created_at", "updated_at"),
                         [(n.pk, p.at, p.at) for n, p in notes])
            Task.objects.bulk_create([t for t, _ in tasks], batch_size=1000)
            _update_rows(Task._meta.db_table, "id", ("created_at",), [(t.pk, p.created_at) for t, p in tasks])

            side_history = []
            for note, note_plan in notes:
                note.created_at = note.updated_at = note_plan.at
                side_history.append(_history_row(Note, note, note_plan.at, "+", note.author))
                events.append(self._event("note.added", note.client, note.author, note_plan.at, {
                    "note": str(note.code), "excerpt": _excerpt(note.body), "author": _user_ref(note.author),
                }))
            for task, task_plan in tasks:
                task.created_at = task_plan.created_at
                assignee = task.assignee
                side_history.append(_history_row(Task, task, task_plan.created_at, "+", assignee,
                                                 done_at=None, done_by_id=None))
                # As task_create saw it: due in the future of the moment it was written.
                events.append(self._event("task.created", task.client, assignee, task_plan.created_at, {
                    "task": str(task.code), "title": task.title, "assignee": _user_ref(assignee),
                    "due_at": task_plan.due_at.isoformat(),
                }))
                if task_plan.done_at is not None:
                    side_history.append(_history_row(Task, task, task_plan.done_at, "~", assignee))
                    events.append(self._event("task.completed", task.client, assignee, task_plan.done_at,
                                              {"task": str(task.code), "title": task.title}))
            Note.history.model.objects.bulk_create([h for h in side_history if isinstance(h, Note.history.model)],
                                                   batch_size=1000)
            Task.history.model.objects.bulk_create([h for h in side_history if isinstance(h, Task.history.model)],
                                                   batch_size=1000)
            Event.objects.bulk_create(events, batch_size=1000)
            totals["clients"] += len(objs)
            totals["notes"] += len(notes)
            totals["tasks"] += len(tasks)
            totals["events"] += len(events)
        audit_record(action="demo.seed", object_type="crm.client", after={
            **totals, "method": "bulk", "seed": SEED,
        }, reason="Demo data (manage.py seed_demo)")

    def _client_obj(self, plan: ClientPlan) -> Any:
        from crm.models import Client

        a = plan.attribution
        return Client(
            brand=self.brands[plan.brand], stage=plan.stage, first_name=plan.first_name, last_name=plan.last_name,
            email=plan.email, phone=plan.phone, country=plan.country, language=plan.language,
            timezone=plan.timezone, date_of_birth=plan.date_of_birth, owner=self._staff(plan.owner),
            desk=self.desks.get(plan.desk) if plan.desk else None, source=a.source, campaign=a.campaign,
            utm_source=a.utm_source, utm_medium=a.utm_medium, utm_campaign=a.utm_campaign, utm_term=a.utm_term,
            utm_content=a.utm_content, referrer_code=a.referrer_code, tags=list(plan.tags),
            created_at=plan.created_at, updated_at=plan.stage_changed_at, stage_changed_at=plan.stage_changed_at,
        )

    def _event(self, name: str, client: Any, actor: Any, at: datetime, data: dict[str, Any]) -> Any:
        from crm.events import _json_safe, contract_check
        from crm.models import Event

        data = _json_safe(data)
        contract_check(name, data)  # demo history is held to the same contracts as live events
        return Event(name=name, client=client, brand_id=client.brand_id, actor=actor, data=data,
                     occurred_at=at, request_id=self.request_id, dispatched_at=self.now)

    def _notifications(self) -> None:
        """A few unread notifications per agent, so the bell has something to show."""
        from crm.models import Client, Task
        from crm.services import notification_send

        for spec in STAFF:
            if spec.role not in ("sales_agent", "retention_agent", "desk_manager"):
                continue
            user = self.users[spec.email]
            due = (Task.objects.filter(assignee=user, done_at__isnull=True, due_at__gte=self.now)
                   .order_by("due_at").first())
            if due is not None:
                notification_send(user=user, kind="task_reminder", title="Task reminder", body=due.title)
            recent = Client.objects.filter(owner=user).order_by("-created_at").first()
            if recent is not None:
                notification_send(user=user, kind="client_assigned", title="A client was assigned to you",
                                  body=recent.full_name)


    def _emails(self) -> None:
        """The composer's templates for each brand, and one email each agent wrote from one of them
        (queued: a running worker sends it into var/mail/, and the profile's Email tab lists it)."""
        from crm.composer import client_email_send, composer_template
        from crm.email_templates import email_template_save
        from crm.lib import context
        from crm.models import Client

        for brand in self.brands.values():
            for (key, language), values in COMPOSER_TEMPLATES.items():
                email_template_save(actor=None, brand=brand, key=key, language=language, **values)
        for spec in STAFF:
            if spec.role not in ("sales_agent", "retention_agent"):
                continue
            user = self.users[spec.email]
            client = (Client.objects.select_related("brand", "owner").filter(owner=user).exclude(email="")
                      .order_by("-created_at", "-id").first())
            if client is None:
                continue
            template = composer_template(client=client, key="follow_up")
            with context.acting_as(user, source="system", request_id=self.request_id):
                client_email_send(actor=user, client=client, subject=template.subject, body=template.body,
                                  language=template.language, template_key=template.key)


# The templates agents start their emails from (the profile's composer), per brand and language.
COMPOSER_TEMPLATES: dict[tuple[str, str], dict[str, str]] = {
    ("follow_up", "en"): {
        "description": "After a call: the agent follows up",
        "subject": "{{ client.first_name }}, following up from {{ brand.name }}",
        "body": ("Dear {{ client.first_name }},\n\nThank you for your time on our call. As promised, I am following "
                 "up on what we discussed.\n\nIf you have any questions, reply to this email and I will get back "
                 "to you.\n\nKind regards,\n{{ owner.name }}\n{{ brand.name }}"),
    },
    ("follow_up", "ar"): {
        "description": "متابعة بعد مكالمة مع العميل",
        "subject": "{{ client.first_name }}، متابعة من {{ brand.name }}",
        "body": ("عزيزي/عزيزتي {{ client.first_name }}،\n\nشكرًا لوقتك خلال مكالمتنا. كما وعدتك، أتابع معك ما "
                 "تحدثنا عنه.\n\nإذا كانت لديك أي أسئلة، رُدّ على هذه الرسالة وسأعود إليك.\n\nمع أطيب "
                 "التحيات،\n{{ owner.name }}\n{{ brand.name }}"),
    },
    ("deposit_help", "en"): {
        "description": "A verified client who has not funded yet",
        "subject": "How to fund your {{ brand.name }} account",
        "body": ("Dear {{ client.first_name }},\n\nYour account is verified and ready. You can fund it by card, "
                 "bank transfer or e-wallet from your client area.\n\nIf a payment does not go through, reply "
                 "to this email and I will help you straight away.\n\nKind regards,\n{{ owner.name }}\n"
                 "{{ brand.name }}"),
    },
    ("deposit_help", "ar"): {
        "description": "عميل تم التحقق منه ولم يموّل حسابه بعد",
        "subject": "كيفية تمويل حسابك لدى {{ brand.name }}",
        "body": ("عزيزي/عزيزتي {{ client.first_name }}،\n\nتم التحقق من حسابك وهو جاهز. يمكنك تمويله بالبطاقة "
                 "أو بالتحويل المصرفي أو بالمحفظة الإلكترونية من منطقة العملاء.\n\nإذا لم تنجح عملية الدفع، "
                 "رُدّ على هذه الرسالة وسأساعدك على الفور.\n\nمع أطيب التحيات،\n{{ owner.name }}\n"
                 "{{ brand.name }}"),
    },
}


# --- small database helpers ------------------------------------------------------------------------

def _model(name: str) -> Any:
    from django.apps import apps

    return apps.get_model("crm", name)


def _user_ref(user: Any) -> dict[str, str] | None:
    return None if user is None else {"code": str(user.code), "name": user.full_name or user.email}


def _desk_ref(desk: Any) -> dict[str, str] | None:
    return None if desk is None else {"code": str(desk.code), "name": desk.name}


def _history_row(model: Any, obj: Any, at: datetime, kind: str, user: Any, **overrides: Any) -> Any:
    """One simple_history row for `obj` as it stood at `at` (its current values, with `overrides`)."""
    history_model = model.history.model
    values = {f.attname: getattr(obj, f.attname) for f in history_model.tracked_fields}
    values.update(overrides)
    return history_model(history_date=at, history_type=kind, history_user_id=getattr(user, "pk", None),
                         history_change_reason="", **values)


def _history_ids(model: Any, ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    history_model = model.history.model
    for history_id, obj_id in (history_model.objects.filter(id__in=ids).order_by("history_id")
                               .values_list("history_id", "id")):
        out[obj_id].append(history_id)
    return out


def _align(ids: list[int], moments: list[datetime]) -> list[tuple[int, datetime]]:
    """Pair history rows (in order) with the moments of the changes; extra rows take the last moment."""
    return [(row_id, moments[min(i, len(moments) - 1)]) for i, row_id in enumerate(ids)]


def _match_times(events: list[tuple[int, str]], expected: list[tuple[datetime, str]]) -> list[tuple[int, datetime]]:
    """Give each event the moment of the planned action it came from, matching names in order.

    An event nobody planned (a service that emits more than one) takes the time of the action
    before it, so that the timeline's order is kept.
    """
    out: list[tuple[int, datetime]] = []
    position = 0
    current = expected[0][0]
    for event_id, name in events:
        if position < len(expected) and expected[position][1] == name:
            current = expected[position][0]
            position += 1
        out.append((event_id, current))
    return out


_PG_TYPES = {datetime: "timestamptz", date: "date"}


def _update_rows(table: str, key: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """UPDATE table SET columns = values for many rows in one statement (unnest of arrays)."""
    from django.db import connection

    if not rows:
        return
    qn = connection.ops.quote_name
    arrays: list[list[Any]] = [[row[i] for row in rows] for i in range(len(columns) + 1)]
    casts = ["bigint[]"] + ["timestamptz[]"] * len(columns)
    # Identifiers come from model metadata, values travel as parameters.
    sql = (
        f"UPDATE {qn(table)} AS t SET "  # noqa: S608
        + ", ".join(f"{qn(c)} = v.{qn(c)}" for c in columns)
        + " FROM unnest(" + ", ".join(f"%s::{cast}" for cast in casts) + ") AS v("
        + ", ".join([qn(key), *(qn(c) for c in columns)]) + ")"
        + f" WHERE t.{qn(key)} = v.{qn(key)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


def _sync_history_copies(model: Any, ids: list[int], *, created: str, **columns: str) -> None:
    """Set date columns of `model`'s history rows from SQL over `h` (the history row) and `o` (the object)."""
    from django.db import connection

    if not ids:
        return
    qn = connection.ops.quote_name
    table, history_table = model._meta.db_table, model.history.model._meta.db_table
    assignments = {"created_at": created, **columns}
    # Identifiers come from model metadata and expressions from this module; ids travel as parameters.
    sql = (
        f"UPDATE {qn(history_table)} AS h SET "  # noqa: S608
        + ", ".join(f"{qn(c)} = {expr}" for c, expr in assignments.items())
        + f" FROM {qn(table)} AS o WHERE h.id = o.id AND o.id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])


def database_checksum() -> str:
    """`plan_checksum` of the demo clients as stored, in creation order."""
    from crm.models import Client

    rows = []
    qs = (Client.objects.filter(brand__code__in=DEMO_BRAND_CODES).order_by("id")
          .values_list("email", "first_name", "last_name", "country", "language", "stage", "brand__code",
                       "desk__name", "owner__email", "phone"))
    desk_keys = {d.name: d.key for d in DESKS}
    for email, first, last, country, language, stage, brand, desk_name, owner_email, phone in qs:
        rows.append((email, first, last, country, language, stage, brand, desk_keys.get(desk_name) if desk_name
                     else None, owner_email, phone))
    return clients_checksum(rows)

"""Where the demo's clients live: markets, names in each naming tradition, email domains."""

from __future__ import annotations

from dataclasses import dataclass


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

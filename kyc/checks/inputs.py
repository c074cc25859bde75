"""What the automatic checks read besides the files' bytes: the applicant as registered, the brand's
rules, and each file with what the client said it is. Apart from kyc.checks (which re-exports them) so
that the slots' checks (kyc.checks.identity, kyc.checks.address), which kyc.checks calls, need not
import it back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from kyc.uploads import Upload


@dataclass(frozen=True)
class Applicant:
    """What the client registered."""

    first_name: str
    last_name: str
    middle_name: str = ""
    date_of_birth: date | None = None
    country: str = ""  # ISO alpha-2 of residence
    address: str = ""  # free text, lines separated by newlines


@dataclass(frozen=True)
class CheckPolicy:
    """The brand's rules."""

    allowed_issuing_countries: frozenset[str] = frozenset()  # alpha-2; empty = any
    poa_max_age_days: int = 90
    expiry_warning_days: int = 30


@dataclass(frozen=True)
class DocumentFile:
    upload: Upload
    kind: str  # what the client said it is: passport | id_card | driving_licence | utility_bill | bank_statement
    side: str = ""  # "front" / "back" for id cards and licences

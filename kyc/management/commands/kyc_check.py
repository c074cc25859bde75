"""`manage.py kyc_check FILE --slot identity|address --name "First [Middle] Last" --dob YYYY-MM-DD ...`:
run the automatic KYC checks on one file and print the report as ONE JSON object (what the API
returns). A refused upload prints the reason on stderr and exits with status 2."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kyc.checks import ADDRESS_KINDS, IDENTITY_KINDS, Applicant, CheckPolicy, DocumentFile, check_documents
from kyc.exceptions import UploadRefused
from kyc.uploads import upload_read


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = "Run the automatic KYC document checks on a file and print the report as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--slot", choices=("identity", "address"), required=True)
        parser.add_argument("--name", required=True, help='"First [Middle] Last"')
        parser.add_argument("--dob", default="", help="date of birth, YYYY-MM-DD")
        parser.add_argument("--country", default="", help="ISO alpha-2 of residence")
        parser.add_argument("--address", default="", help="lines separated by newlines or '\\n'")
        parser.add_argument("--as-of", default="", help="the day to check against (default: today)")
        parser.add_argument("--kind", choices=IDENTITY_KINDS + ADDRESS_KINDS, default="")
        parser.add_argument("--side", choices=("", "front", "back"), default="")
        parser.add_argument("--allowed-countries", default="", help="XX,YY (alpha-2); empty: any")
        parser.add_argument("--poa-max-age-days", type=int, default=90)
        parser.add_argument("--expiry-warning-days", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        parts = options["name"].split()
        if len(parts) < 2:
            raise CommandError('--name: give at least a first and a last name ("First [Middle] Last")')
        applicant = Applicant(first_name=parts[0], middle_name=" ".join(parts[1:-1]), last_name=parts[-1],
                              date_of_birth=_date(options["dob"], "--dob") if options["dob"] else None,
                              country=options["country"].upper(),
                              address=options["address"].replace("\\n", "\n"))
        allowed = frozenset(c.strip().upper() for c in options["allowed_countries"].split(",") if c.strip())
        policy = CheckPolicy(allowed_issuing_countries=allowed, poa_max_age_days=options["poa_max_age_days"],
                             expiry_warning_days=options["expiry_warning_days"])
        as_of = _date(options["as_of"], "--as-of") if options["as_of"] else date.today()  # noqa: DTZ011
        kind = options["kind"] or ("passport" if options["slot"] == "identity" else "utility_bill")
        try:
            with path.open("rb") as fh:
                upload = upload_read(fh, filename=path.name)
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from exc
        except UploadRefused as exc:
            self.stderr.write(f"{path.name}: refused: {exc.message}")
            sys.exit(2)
        report = check_documents(slot=options["slot"], files=[DocumentFile(upload, kind, options["side"])],
                                 applicant=applicant, policy=policy, as_of=as_of)
        self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, default=str))

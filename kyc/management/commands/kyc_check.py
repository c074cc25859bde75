"""`manage.py kyc_check FILE --slot identity|address --name "First [Middle] Last" --dob YYYY-MM-DD ...`:
run the automatic KYC checks on one file and print the report as ONE JSON object (what the API
returns). A refused upload prints the reason on stderr and exits with status 2.

`manage.py kyc_check --manifest FILE.jsonl` checks many files in one process (the OCR engine loaded
once): each line of FILE is a JSON object with the options' names as keys ("file", "slot", "name",
"dob", "country", "address", "as_of", "kind", "side", "allowed_countries", "poa_max_age_days",
"expiry_warning_days"; "first_name", "middle_name" and "last_name" may stand for "name", as a
registration keeps them). One JSON object a line is printed for each, in order: the report with the
line's "file", or {"file": ..., "refused": reason}. A line that is not valid stops the run (exit 1,
naming the line)."""

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
        parser.add_argument("file", nargs="?", default="")
        parser.add_argument("--manifest", default="", help="a JSON-lines file of checks to run (see the help)")
        parser.add_argument("--slot", choices=("identity", "address"))
        parser.add_argument("--name", default="", help='"First [Middle] Last"')
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
        if options["manifest"]:
            self._manifest(Path(options["manifest"]))
            return
        if not options["file"] or not options["slot"] or not options["name"]:
            raise CommandError("give FILE, --slot and --name (or --manifest)")
        path = Path(options["file"])
        applicant, policy, as_of, kind = _inputs(options)
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

    def _manifest(self, manifest: Path) -> None:
        try:
            lines = manifest.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CommandError(f"{manifest}: {exc.strerror or exc}") from exc
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise TypeError
            except (ValueError, TypeError):
                raise CommandError(f"{manifest}, line {number}: not a JSON object") from None
            options = {**_DEFAULTS, **{k.replace("-", "_"): v for k, v in entry.items()}}
            if not options.get("file") or options.get("slot") not in ("identity", "address"):
                raise CommandError(f'{manifest}, line {number}: give "file" and "slot" (identity or address)')
            try:
                applicant, policy, as_of, kind = _inputs(options)
            except CommandError as exc:
                raise CommandError(f"{manifest}, line {number}: {exc}") from None
            path = Path(options["file"])
            try:
                with path.open("rb") as fh:
                    upload = upload_read(fh, filename=path.name)
            except OSError as exc:
                raise CommandError(f"{manifest}, line {number}: {path}: {exc.strerror or exc}") from exc
            except UploadRefused as exc:
                self.stdout.write(json.dumps({"file": str(path), "refused": exc.message}, ensure_ascii=False))
                continue
            report = check_documents(slot=options["slot"], files=[DocumentFile(upload, kind, options["side"])],
                                     applicant=applicant, policy=policy, as_of=as_of)
            self.stdout.write(json.dumps({"file": str(path), **report.as_dict()}, ensure_ascii=False, default=str))


_DEFAULTS: dict[str, Any] = {"name": "", "dob": "", "country": "", "address": "", "as_of": "", "kind": "", "side": "",
                             "allowed_countries": "", "poa_max_age_days": 90, "expiry_warning_days": 30}


def _inputs(options: dict[str, Any]) -> tuple[Applicant, CheckPolicy, date, str]:
    """The applicant, the brand's policy, the day and the document's kind the options give."""
    if options.get("last_name"):
        first, middle, last = (str(options.get(k) or "") for k in ("first_name", "middle_name", "last_name"))
    else:
        parts = str(options["name"]).split()
        if len(parts) < 2:
            raise CommandError('--name: give at least a first and a last name ("First [Middle] Last")')
        first, middle, last = parts[0], " ".join(parts[1:-1]), parts[-1]
    applicant = Applicant(first_name=first, middle_name=middle, last_name=last,
                          date_of_birth=_date(options["dob"], "--dob") if options["dob"] else None,
                          country=str(options["country"]).upper(),
                          address=str(options["address"]).replace("\\n", "\n"))
    allowed = frozenset(c.strip().upper() for c in str(options["allowed_countries"]).split(",") if c.strip())
    try:
        policy = CheckPolicy(allowed_issuing_countries=allowed, poa_max_age_days=int(options["poa_max_age_days"]),
                             expiry_warning_days=int(options["expiry_warning_days"]))
    except (TypeError, ValueError) as exc:
        raise CommandError("--poa-max-age-days and --expiry-warning-days are whole numbers of days") from exc
    as_of = _date(options["as_of"], "--as-of") if options["as_of"] else date.today()  # noqa: DTZ011
    kind = options["kind"] or ("passport" if options["slot"] == "identity" else "utility_bill")
    if kind not in IDENTITY_KINDS + ADDRESS_KINDS:
        raise CommandError(f"--kind: {kind!r} is not one of {', '.join(IDENTITY_KINDS + ADDRESS_KINDS)}")
    return applicant, policy, as_of, kind

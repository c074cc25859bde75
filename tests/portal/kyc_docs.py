"""Documents for the trader's room's tests, made by the synthetic generator (tests/kyc/docgen.py): a clean
passport with its machine-readable zone and a bill with the client's name and address."""

from __future__ import annotations

from datetime import date, timedelta

from tests.kyc.docgen import Bill, Holder, IdDoc, encode, identity_image, text_pdf

STREET, CITY, POSTCODE = "12 Baker Street", "London", "NW1 6XE"


def holder(first: str, last: str, birth: date) -> Holder:
    return Holder(surname=last, given_names=first, birth=birth)


def passport_png(who: Holder, *, number: str = "L898902C3", seed: int = 0) -> bytes:
    return encode(identity_image(IdDoc("passport", who, number=number), seed), "png")


def bill_pdf(name: str) -> bytes:
    bill = Bill(kind="utility_bill", name=name, address=f"{STREET}\n{CITY} {POSTCODE}",
                issued=date.today() - timedelta(days=10))
    return text_pdf(bill.lines())

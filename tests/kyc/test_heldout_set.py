"""The second, independently written document generator (tests/kyc/heldout.py) keeps working: a few of
its documents go through `manage.py kyc_check --manifest` and get the answer their label asks for, and
a split is the same documents on every run. The whole set runs in benchmarks/kyc_heldout_set.py."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from django.core.management import ManagementUtility

from tests.kyc import heldout

pytestmark = pytest.mark.usefixtures("shared_ocr")  # each model's answer to the same pixels read once

# the tune split's documents: a bank statement printed to PDF by online banking but months old, a
# clean one, and a clean ID card scanned both sides on one page
SAMPLE = (16, 33, 38)


def _kyc_check_manifest(manifest):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            ManagementUtility(["manage.py", "kyc_check", "--manifest", str(manifest)]).execute()
        except SystemExit as exit_:
            assert not exit_.code
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def test_a_split_is_the_same_documents_on_every_run(tmp_path):
    first = heldout.generate(tmp_path / "a", "tune", indices=[SAMPLE[0]])
    second = heldout.generate(tmp_path / "b", "tune", indices=[SAMPLE[0]])
    assert [s.options | {"file": ""} for s in first] == [s.options | {"file": ""} for s in second]
    with open(first[0].file, "rb") as a, open(second[0].file, "rb") as b:
        assert a.read() == b.read()


def test_the_mrz_check_digits_follow_icao_9303():
    # ICAO 9303 part 3's worked example: document number L898902C3, check digit 6
    assert heldout.check_digit("L898902C3") == "6"
    assert heldout.check_digit("740812") == "2"
    assert heldout.mrz_name("Müller-Lüdenscheidt") == "MUELLER<LUEDENSCHEIDT"
    assert heldout.mrz_name("O'Brien") == "OBRIEN"


@pytest.mark.django_db  # the command's system checks read the database
def test_a_sample_of_the_generator_gets_the_answers_its_labels_ask_for(tmp_path):
    samples = heldout.generate(tmp_path, "tune", indices=list(SAMPLE))
    manifest = tmp_path / "manifest.jsonl"
    keys = ("file", "slot", "name", "dob", "country", "address", "as_of", "kind")
    manifest.write_text("".join(json.dumps({k: s.options[k] for k in keys}) + "\n" for s in samples))
    reports = _kyc_check_manifest(manifest)
    labels = [(s.kind, s.capture, s.defect or "clean") for s in samples]
    assert labels == [("bank_statement", "pdf_text", "old"), ("bank_statement", "pdf_text", "clean"),
                      ("id_card", "scan", "clean")]
    decisions = [r["decision"] for r in reports]
    assert decisions[0] != "approve"
    assert decisions[1:] == ["approve", "approve"]


def _checked(tmp_path, samples, **changes):
    manifest = tmp_path / "manifest.jsonl"
    keys = ("file", "slot", "name", "dob", "country", "address", "as_of", "kind")
    manifest.write_text("".join(json.dumps({k: s.options[k] for k in keys} | changes) + "\n" for s in samples))
    return _kyc_check_manifest(manifest)


# the tune split's documents: a photographed German identity card whose MRZ the recogniser reads with
# letters dropped until its lines are widened, and a scanned passport with a broken check digit
PHOTOGRAPHED_CARD, BROKEN_DIGIT = 3, 18


@pytest.mark.django_db  # the command's system checks read the database
def test_a_photographed_cards_mrz_is_read_again_from_cleaned_lines_and_a_forgery_still_fails(tmp_path):
    card, broken = heldout.generate(tmp_path, "tune", indices=[PHOTOGRAPHED_CARD, BROKEN_DIGIT])
    assert (card.kind, card.capture, card.defect) == ("id_card", "photo", "")
    assert (broken.kind, broken.defect) == ("passport", "mrz_digit")
    report, forged = _checked(tmp_path, [card, broken])
    assert report["decision"] == "approve", report
    assert report["facts"]["surname"] == "WEISS" and report["facts"]["birth_date"] == card.options["dob"]
    # the cleaned readings never make a broken check digit hold: the passport goes to an officer
    assert forged["decision"] == "review"
    assert {c["name"] for c in forged["checks"] if c["outcome"] != "pass"} & {"mrz_check_digits", "mrz_found"}
    # the same card for another applicant: every reading is tried for their name, none gives it
    other = _checked(tmp_path, [card], name="Lena Weber")[0]
    assert other["decision"] == "review"
    assert [c["outcome"] for c in other["checks"] if c["name"] == "name_match"] != ["pass"]

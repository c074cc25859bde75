"""`manage.py kyc_check`: one JSON report on stdout; a refused upload is a clear error, exit 2."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import ManagementUtility

from kyc.exceptions import UploadRefused
from kyc.uploads import upload_validate
from tests.kyc import docgen
from tests.waiting import scaled

ROOT = Path(__file__).resolve().parents[2]


def kyc_check_process(*args):
    """`manage.py kyc_check` in a process of its own, as an operator runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "crm.settings.test"}
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), "kyc_check", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=scaled(120), check=False)


def kyc_check(*args):
    """The same command line through manage.py's own entry point (argument parsing, the error line on
    stderr, the exit status), in this process: a second's start-up of Django saved per call."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ManagementUtility(["manage.py", "kyc_check", *map(str, args)]).execute()
        except SystemExit as exit_:
            code = 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 1  # as Python exits
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.mark.django_db  # the command's system checks read the database
def test_command_prints_the_report(tmp_path):
    case = next(c for c in docgen.special_cases() if c.name == "passport_expired")
    path = tmp_path / "passport.png"
    path.write_bytes(case.files[0][0])
    bill = tmp_path / "bill.pdf"
    bill.write_bytes(next(c for c in docgen.special_cases() if c.name == "bill_valid").files[0][0])
    done = kyc_check(path, "--slot", "identity", "--name", "Anna Maria Eriksson", "--dob", "1974-08-12",
                     "--country", "GB", "--as-of", docgen.AS_OF, "--allowed-countries", "GB,FR")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["decision"] == "reject"
    outcomes = {c["name"]: c["outcome"] for c in report["checks"]}
    assert outcomes["document_expiry"] == "fail" and outcomes["issuing_country_allowed"] == "fail"
    assert outcomes["mrz_check_digits"] == "pass" and report["facts"]["document_number"] == "L898902C3"
    done = kyc_check(bill, "--slot", "address", "--name", "Anna Eriksson", "--address", "12 Baker Street\\nLondon NW1 6XE",
                     "--as-of", docgen.AS_OF, "--poa-max-age-days", "10")
    report = json.loads(done.stdout)
    assert report["decision"] == "reject"
    assert [c["name"] for c in report["checks"] if c["outcome"] != "pass"] == ["document_date"]


BAD = {
    "program.png": (b"MZ\x90\x00" + b"\x00" * 500, "a Windows program"),
    "empty.pdf": (b"", "empty"),
    "broken.pdf": (b"%PDF-1.4\n1 0 obj<<>>endobj\ngarbage", "damaged"),
    "huge.jpg": (b"\xff\xd8\xff" + b"\x00" * (50 * 1024 * 1024), "larger than"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_uploads_are_refused_with_a_clear_message(name):
    data, words = BAD[name]
    with pytest.raises(UploadRefused) as refused:
        upload_validate(data, filename=name)
    assert words in refused.value.message


@pytest.mark.django_db  # the command's system checks read the database
def test_command_refuses_a_bad_upload(tmp_path):
    for name, run in (("program.png", kyc_check_process), ("broken.pdf", kyc_check), ("empty.pdf", kyc_check)):
        path = tmp_path / name
        path.write_bytes(BAD[name][0])
        done = run(path, "--slot", "identity", "--name", "Anna Eriksson")
        assert done.returncode == 2
        assert f"{name}: refused: " in done.stderr and BAD[name][1] in done.stderr
        assert done.stdout == ""
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as fh:
        fh.write(b"\xff\xd8\xff")
        fh.seek(50 * 1024 * 1024)
        fh.write(b"\x00")
    done = kyc_check(huge, "--slot", "identity", "--name", "Anna Eriksson")
    assert done.returncode == 2 and "larger than" in done.stderr


@pytest.mark.django_db  # the command's system checks read the database
def test_command_checks_a_manifest_a_report_a_line(tmp_path):
    bill = tmp_path / "bill.pdf"
    bill.write_bytes(next(c for c in docgen.special_cases() if c.name == "bill_valid").files[0][0])
    program = tmp_path / "program.png"
    program.write_bytes(BAD["program.png"][0])
    entry = {"slot": "address", "first_name": "Anna", "last_name": "Eriksson", "as_of": docgen.AS_OF.isoformat(),
             "address": "12 Baker Street\nLondon NW1 6XE"}
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps({**entry, "file": str(f)}) for f in (bill, program)) + "\n")
    done = kyc_check("--manifest", manifest)
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["file"] == str(bill) and first["decision"] == "approve", first
    assert second["file"] == str(program) and "a Windows program" in second["refused"]
    manifest.write_text(json.dumps({**entry, "file": str(bill)}) + "\n" + json.dumps({**entry, "slot": "x"}) + "\n")
    done = kyc_check("--manifest", manifest)
    assert done.returncode == 1 and f"{manifest}, line 2: " in done.stderr, done.stderr

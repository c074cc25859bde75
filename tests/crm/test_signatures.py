"""plumbing.signatures: the one X-CRM-Signature (t=<unix seconds>,v1=<hex>), signed by the CRM on its
webhooks and postbacks and by telephony providers on theirs; and the two-header form of vendors'
own schemes (verify_parts)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plumbing.signatures import (
    TOLERANCE_SECONDS,
    SignatureError,
    header_value,
    parse,
    sign,
    verify,
    verify_parts,
)

SECRET = "s3cret-shared-with-the-provider"
BODY = b'{"event": "ended", "call_id": "c-1"}'
NOW = 1_767_600_000
README = Path(__file__).resolve().parents[2] / "README.md"


def _verify(header, *, secrets=(SECRET,), body=BODY, now=NOW):
    return verify(body=body, header=header, secrets=list(secrets), now=now)


def test_a_request_signed_with_a_shared_secret_passes_and_gives_its_time():
    assert _verify(header_value([SECRET], BODY, timestamp=NOW)) == NOW
    assert _verify(f"t={NOW}, v1={sign(SECRET, NOW, BODY).upper()}") == NOW  # spaces, any case


def test_during_a_key_change_either_secret_is_enough():
    both = header_value(["the new secret", "the old secret"], BODY, timestamp=NOW)
    assert parse(both) == (NOW, [sign("the new secret", NOW, BODY), sign("the old secret", NOW, BODY)])
    assert _verify(both, secrets=["the old secret"]) == NOW
    assert _verify(both, secrets=["the new secret"]) == NOW
    with pytest.raises(SignatureError) as refused:
        _verify(both, secrets=["a third secret"])
    assert refused.value.reason == "mismatch"


@pytest.mark.parametrize(("header", "kw", "reason"), [
    ("", {}, "malformed"),
    (f"sha256={sign(SECRET, NOW, BODY)}", {}, "malformed"),  # the two-header form is not this one
    (f"t={NOW}", {}, "malformed"),
    (f"v1={sign(SECRET, NOW, BODY)}", {}, "malformed"),
    (f"t=yesterday,v1={sign(SECRET, NOW, BODY)}", {}, "malformed"),
    (f"t={NOW},v1={sign(SECRET, NOW, BODY)}", {"secrets": ("",)}, "unknown_sender"),
    (f"t={NOW},v1={sign(SECRET, NOW, BODY)}", {"now": NOW + TOLERANCE_SECONDS + 1}, "stale"),
    (f"t={NOW},v1={sign(SECRET, NOW, BODY)}", {"now": NOW - TOLERANCE_SECONDS - 1}, "stale"),
    (f"t={NOW},v1={'0' * 64}", {}, "mismatch"),
    (f"t={NOW},v1={sign('another secret', NOW, BODY)}", {}, "mismatch"),
    (f"t={NOW},v1={sign(SECRET, NOW, BODY)}", {"body": BODY + b" "}, "mismatch"),
    (f"t={NOW},v1={sign(SECRET, NOW - 3600, BODY)}", {}, "mismatch"),  # an old signature, a fresh time
])
def test_it_refuses_what_the_sender_did_not_sign_now(header, kw, reason):
    with pytest.raises(SignatureError) as refused:
        _verify(header, **kw)
    assert refused.value.reason == reason


def test_a_vendors_two_headers_are_checked_the_same_way():
    ts = str(NOW)
    assert verify_parts(body=BODY, timestamp=ts, signature="sha256=" + sign(SECRET, ts, BODY), secret=SECRET,
                        now=NOW) == NOW
    assert verify_parts(body=BODY, timestamp=ts, signature=sign(SECRET, ts, BODY).upper(), secret=SECRET,
                        now=NOW) == NOW
    for kw, reason in [({"secret": ""}, "unknown_sender"), ({"timestamp": ""}, "malformed"),
                       ({"signature": ""}, "malformed"), ({"now": NOW + TOLERANCE_SECONDS + 1}, "stale"),
                       ({"body": b"{}"}, "mismatch")]:
        args = {"body": BODY, "timestamp": ts, "signature": sign(SECRET, ts, BODY), "secret": SECRET, "now": NOW}
        with pytest.raises(SignatureError) as refused:
            verify_parts(**{**args, **kw})
        assert refused.value.reason == reason, kw


def test_the_readme_documents_this_module_and_this_format():
    """What integrators copy: the README's receiver imports this module and shows this header."""
    text = README.read_text(encoding="utf-8")
    assert "from plumbing.signatures import SignatureError, verify" in text
    assert re.search(r"X-CRM-Signature: t=\d+,v1=", text)
    assert "X-CRM-Timestamp" not in text and "webhook_signature" not in text

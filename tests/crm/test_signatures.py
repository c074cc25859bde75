"""crm.lib.signatures: the one check of signed webhooks (telephony today; payment providers and partners next)."""

from __future__ import annotations

import pytest

from crm.lib.signatures import SIGNATURE_TOLERANCE, SignatureInvalid, signature_check, signature_for

SECRET = "s3cret-shared-with-the-provider"
BODY = b'{"event": "ended", "call_id": "c-1"}'
NOW = 1_767_600_000.0


def _check(*, secret=SECRET, timestamp=str(int(NOW)), signature=None, body=BODY, now=NOW):
    if signature is None:
        signature = "sha256=" + signature_for(SECRET, timestamp, body)
    signature_check(secret=secret, timestamp=timestamp, signature=signature, body=body, now=now)


def test_a_request_signed_with_the_shared_secret_passes():
    _check()
    _check(signature=signature_for(SECRET, str(int(NOW)), BODY).upper())  # bare hex, any case


@pytest.mark.parametrize(("case", "message"), [
    ({"secret": ""}, "unknown provider"),
    ({"timestamp": ""}, "missing timestamp"),
    ({"timestamp": "yesterday"}, "missing timestamp"),
    ({"now": NOW + SIGNATURE_TOLERANCE.total_seconds() + 1}, "stale timestamp"),
    ({"now": NOW - SIGNATURE_TOLERANCE.total_seconds() - 1}, "stale timestamp"),
    ({"signature": "sha256=" + "0" * 64}, "bad signature"),
    ({"signature": "sha256=" + signature_for("another secret", str(int(NOW)), BODY)}, "bad signature"),
])
def test_it_refuses_what_the_provider_did_not_sign_now(case, message):
    with pytest.raises(SignatureInvalid, match=message):
        _check(**case)


def test_a_changed_body_or_a_fresh_timestamp_on_an_old_signature_is_refused():
    old = str(int(NOW) - 3600)
    signature = "sha256=" + signature_for(SECRET, old, BODY)
    with pytest.raises(SignatureInvalid, match="bad signature"):
        _check(signature=signature)  # replayed with today's timestamp
    with pytest.raises(SignatureInvalid, match="bad signature"):
        _check(signature="sha256=" + signature_for(SECRET, str(int(NOW)), BODY), body=BODY + b" ")

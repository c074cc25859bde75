"""Mail of a local run under var/mail/ is readable: a long link in a message with non-ASCII text
was written quoted-printable, cut by "=" soft line breaks with "=" turned into "=3D" (issue 58, item 11)."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives

from crm.lib.mail_files import ReadableFileBackend

LINK = ("http://127.0.0.1:8000/portal/verify-email/" + "a1b2c3d4" * 6 + "/?next=/portal/wallet/deposit/"
        "0123456789abcdef0123456789abcdef/")


def test_a_message_is_written_with_its_links_whole_and_its_text_decoded(tmp_path):
    backend = ReadableFileBackend(file_path=str(tmp_path))
    message = EmailMultiAlternatives("Vérifiez votre adresse", f"Bonjour Zoë,\n\nOpen this link: {LINK}\n",
                                     "crm@localhost", ["zoe@example.com"], connection=backend)
    message.attach_alternative(f'<p>Bonjour Zoë <a href="{LINK}">verify</a></p>', "text/html")
    assert message.send() == 1
    (written,) = tmp_path.iterdir()
    text = written.read_text(encoding="utf-8")
    assert f"Open this link: {LINK}\n" in text and "Bonjour Zoë," in text
    assert "Subject: Vérifiez votre adresse" in text and "To: zoe@example.com" in text
    assert "=== as sent ===" in text and "Content-Transfer-Encoding: quoted-printable" in text  # the raw form too

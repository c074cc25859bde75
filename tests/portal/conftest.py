from __future__ import annotations

import re
import uuid
from datetime import date
from types import SimpleNamespace

import pytest
from django.core import mail
from django.urls import reverse

from crm.celery import app as celery_app
from crm.lib.fieldcrypt import keyed_hash
from portal.models import ConsentDocument, ConsentKind

PASSWORD = "quiet-lagoon-7319"
LINK_RE = re.compile(r"https?://\S+")


@pytest.fixture(autouse=True)
def _portal_budgets(settings):
    """Generous budgets, and a fresh client IP per test (the counters live in the real Redis)."""
    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.PORTAL_MAIL_RATE_LIMIT = "1000/m"
    settings.PASSWORD_RESET_RATE_LIMIT = "1000/m"
    settings.PASSWORD_RESET_IP_RATE_LIMIT = "1000/m"


@pytest.fixture
def ip():
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


@pytest.fixture
def http(client, ip):
    client.defaults["REMOTE_ADDR"] = ip
    return client


@pytest.fixture
def eager_celery():
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def publish(brand, kind, version="1", language="en", title=None):
    return ConsentDocument.objects.create(brand=brand, kind=kind, version=version, language=language,
                                          title=title or f"{kind} {version}", body="text")


@pytest.fixture
def brand(db):
    from tests.factories import make_brand

    brand = make_brand(code="atlas-t", name="Atlas Test", served_countries=["GB", "DE", "AE"])
    for kind in ConsentKind.values:
        publish(brand, kind)
        publish(brand, kind, language="ar", title=f"{kind} ar")
    return brand


def form_data(**overrides):
    data = {"first_name": "Nadia", "last_name": "Hassan", "email": "nadia.hassan@example.com",
            "phone": "+442071838111", "country": "GB", "date_of_birth": "1990-04-02", "password": PASSWORD,
            "accept_terms": "on", "accept_privacy": "on"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def register(http, eager_celery, django_capture_on_commit_callbacks):
    """`register(brand, **fields)`: post the registration form as a browser would; the mails the
    request queued are sent (eagerly) when it commits."""

    def register(brand, query="", **fields):
        with django_capture_on_commit_callbacks(execute=True):
            return http.post(reverse("portal:register", args=[brand.code]) + query, form_data(**fields))

    return register


def links_in(message) -> list[str]:
    return LINK_RE.findall(message.body)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


@pytest.fixture
def registered(brand, register):
    """A registered client with a verified address, signed out."""
    from portal.models import ClientLogin
    from portal.services import portal_email_verify, verification_token

    response = register(brand)
    assert response.status_code == 302, response.content.decode()[:2000]
    login = ClientLogin.objects.get(email_hash=keyed_hash("nadia.hassan@example.com", kind="email"))
    portal_email_verify(token=verification_token(login))
    mail.outbox.clear()
    login.refresh_from_db()
    return SimpleNamespace(brand=brand, login=login, client=login.client)


def sign_in(http, brand, email="nadia.hassan@example.com", password=PASSWORD):
    return http.post(reverse("portal:login_brand", args=[brand.code]), {"email": email, "password": password})


def adult() -> date:
    return date(1990, 1, 1)

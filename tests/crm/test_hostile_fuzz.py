"""Hostile input of every kind, sent to every API operation and to the staff's and visitors' forms:
whatever arrives, the answer is never a server error.

test_hostile_text.py and test_hostile_forms.py send one kind of text (NUL, control characters,
over-long text) everywhere; test_api_schema.py sends what the OpenAPI schema describes. This file
sends what neither does: codes that are no UUID or belong to another kind of object, numbers with
exponents or in other scripts, dates like 9999-12-31 and 0000-00-00, bidirectional controls, JSON
of the wrong type or nested junk, in path, query and body, by an API key with every scope and by an
administrator signed in. The operations come from the OpenAPI schema and the forms from the pages,
so what is added later is fuzzed too.

Every run draws a bounded sample, seeded: the seed is the day (CRM_FUZZ_SEED=<n> repeats a run),
so each day explores other combinations while a failure can be replayed; CRM_FUZZ_SCALE=<n> draws
n times as much. A failure names the operation or form, the caller, the seed and the input.
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.apps import apps
from django.db import models, transaction
from django.http import HttpResponse
from django.test import Client as HttpClient
from django.urls import resolve

from crm.models import RoleCode
from crm.services import note_add, task_create
from integrations.assembly import api
from tests.crawl import PageParser, brand_pages, is_page, page_paths
from tests.crm.api_support import new_key
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

SEED = int(os.environ.get("CRM_FUZZ_SEED") or datetime.now(UTC).strftime("%Y%m%d"))
SCALE = max(1, int(os.environ.get("CRM_FUZZ_SCALE") or 1))  # a bigger sample, to hunt by hand
API_REQUESTS = 220 * SCALE  # every operation at least once, the rest drawn at random
PAGES = 24 * SCALE  # pages drawn from the URL conf, and links followed from them
LINKS = 12 * SCALE
POSTS_PER_FORM = 2
QUERY_PROBES_PER_PAGE = 1

# --- the hostile values -----------------------------------------------------------------------------

TEXTS = ["a\x00b", "x" * 25_000, "\u202eevil", "Ha\u2066dd\u2069ad", "\u200f", "\x1b[31mred", "", " ", "\t",
         "'; DROP TABLE crm_client; --", "<script>alert(1)</script>", "%(x)s {0} %n %s", "../../etc/passwd",
         "\U0001f642" * 50, "ｆｕｌｌ", "\ufeff", "a\u0301\u0301\u0301", "null", "true", "[]", "{}"]
NUMBERS = ["1E1", "1e400", "-1e-400", "-1", "+1", "١٠", "１", "१०", "9" * 40, "0", "-0", ".5", "5.", "NaN",
           "-Infinity", "0x10", "1,000", " 1", "1_000", "-99999999999999999999", "2147483648", "1.0000000001"]
DATES = ["9999-12-31", "0000-00-00", "2026-02-30", "0001-01-01", "9999-12-31T23:59:59Z",
         "0001-01-01T00:00:00+14:00", "2026-13-01", "yesterday", "-1", "99999-01-01", "2026-01-01T25:00",
         "2026-06", "1970-01-01T00:00:00-00:01"]
CODES = ["x", "00000000-0000-0000-0000-000000000000", "1", "g" * 36, "' OR 1=1 --", "..", "%00",
         "0000000-0000-0000-0000-000000000000", "{" + "0" * 32 + "}", "urn:uuid:" + "0" * 32]
STRINGS = TEXTS + NUMBERS + DATES + CODES


def nested(depth: int) -> Any:
    value: Any = None
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


JSON_JUNK: list[Any] = [1, -1, 0, 1.5, 1e308, -1e308, 10**30, -(10**30), True, False, None, [], {}, [None],
                        {"": None}, [[[]]], {"a": {"b": [1, {"c": None}]}}, nested(200), ["a\x00b"], {"\x00": 1},
                        "a\ud800b"]
RAW_BODIES = [b"", b"{", b"\xff\xfe\x00", b"null", b"[]", b'"x"', b"1e999", json.dumps(nested(400)).encode(),
              b'{"a": 1, "a": 2}']
INT_PATH = ["0", "-1", "1", "2147483648", "9" * 25, "99999999999999999999"]
QUERY_NAMES = ["desk", "agent", "brand", "owner", "status", "page", "q", "sort", "from", "to", "day", "date", "since",
               "until", "period", "currency", "amount", "days", "assignee", "tab", "cursor", "month", "year", "limit",
               "kind", "code", "client", "partner", "provider", "state", "server", "account", "version", "list",
               "min_score", "priority", "overdue", "next", "format", "lang"]


def by_name(rng: random.Random, name: str) -> str:
    """A hostile value that fits what a field or parameter called `name` probably holds, or any."""
    name = name.lower()
    if rng.random() < 0.3:
        return rng.choice(STRINGS)
    if any(word in name for word in ("date", "day", "from", "to", "until", "since", "_at", "_on", "month", "period",
                                     "start", "end")):
        return rng.choice(DATES)
    if any(word in name for word in ("amount", "cap", "minimum", "balance", "rate", "percent", "score", "limit",
                                     "days", "count", "number", "leverage", "budget", "lots", "price", "page", "size",
                                     "per_", "max", "min", "threshold", "year")):
        return rng.choice(NUMBERS)
    if any(word in name for word in ("code", "client", "agent", "desk", "owner", "assignee", "brand", "partner",
                                     "account", "method", "plan", "parent", "user", "id", "server", "provider")):
        return rng.choice(CODES)
    return rng.choice(STRINGS)


# --- the scene ------------------------------------------------------------------------------------------


@pytest.fixture
def scene(db):
    from compliance.cases import case_item_attach
    from ib.services import partner_create

    brand = make_brand(code="fuzz", name="Fuzz Markets")
    other = make_brand(code="fuzz-other", name="Other Markets")
    admin = make_user(role_code=RoleCode.ADMIN)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    client = make_client(actor=agent, first_name="Amira", phone="+442071838750", email="amira@example.com")
    make_client(actor=make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=other)), first_name="Other")
    task_create(actor=agent, title="Call back", assignee=agent, client=client)
    note_add(actor=agent, client=client, body="Asked about spreads")
    case_item_attach(client=client, kind="aml_alert", ref_id=41, summary="structuring", score=75)
    partner_create(actor=None, brand=brand, display_name="Gulf Partners", email="gulf@partners.example")
    return {"admin": admin, "key": new_key(brand, actor=admin), "codes": real_codes()}


def real_codes() -> list[str]:
    """Up to two codes of every model that has a UUID `code`: clients, tasks, cases, partners,
    users, desks ... Any of them may stand in any path, as a caller could send it."""
    codes: list[str] = []
    for model in apps.get_models():
        field = next((f for f in model._meta.concrete_fields if f.name == "code"), None)
        if isinstance(field, models.UUIDField):
            codes += [str(c) for c in model._default_manager.order_by().values_list("code", flat=True)[:2]]
    return sorted(set(codes))


def send(call: Callable[[], HttpResponse]) -> HttpResponse:
    """One request in a savepoint of the test's transaction: a request that broke the transaction
    is a server error already, and must not make every later request fail with it."""
    point = transaction.savepoint()
    response = call()
    if response.status_code >= 500:
        transaction.savepoint_rollback(point)
    else:
        transaction.savepoint_commit(point)
    return response


def shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr) if not isinstance(value, bytes) \
        else repr(value)
    return text if len(text) <= 160 else f"{text[:100]}... ({len(text)} characters)"


# --- the API --------------------------------------------------------------------------------------------


@cache
def _schema() -> dict[str, Any]:
    return api.get_openapi_schema()


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _kinds(schema: dict[str, Any], node: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(JSON types, string formats) a property allows, through anyOf / oneOf / allOf."""
    node = _resolve(schema, node)
    kinds = {node["type"]} if isinstance(node.get("type"), str) else set()
    formats = {node["format"]} if "format" in node else set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            more_kinds, more_formats = _kinds(schema, sub)
            kinds |= more_kinds
            formats |= more_formats
    return kinds, formats


def hostile_value(rng: random.Random, schema: dict[str, Any], name: str, node: dict[str, Any]) -> Any:
    kinds, formats = _kinds(schema, node)
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(JSON_JUNK)  # the wrong type, or nested junk
    if formats & {"date", "date-time"}:
        return rng.choice(DATES)
    if "uuid" in formats:
        return rng.choice(CODES)
    if kinds & {"integer", "number"} and roll < 0.6:
        return rng.choice([*NUMBERS, 10**30, -1, 0, 2**63])
    if "array" in kinds:
        return [by_name(rng, name) for _ in range(rng.randint(0, 3))] if roll < 0.8 else [rng.choice(JSON_JUNK)] * 500
    return by_name(rng, name)


def api_body(rng: random.Random, schema: dict[str, Any], operation: dict[str, Any]) -> tuple[Any, bytes | None]:
    """(a JSON body, or raw bytes) for `operation`: its properties, each hostile or left out."""
    if rng.random() < 0.1:
        return None, rng.choice(RAW_BODIES)
    node = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
    if not node:
        return (rng.choice(JSON_JUNK) if rng.random() < 0.3 else {}), None
    node = _resolve(schema, node)
    if "oneOf" in node or "anyOf" in node:  # one object or a batch of them (the lead API)
        options = node.get("oneOf") or node.get("anyOf")
        node = _resolve(schema, rng.choice(options))
    if node.get("type") == "array":
        item = _resolve(schema, node.get("items", {}))
        return [api_object(rng, schema, item) for _ in range(rng.randint(0, 3))], None
    body = api_object(rng, schema, node)
    # A batch of the one object, where the operation takes one (the lead API takes {"leads": [...]}).
    for name, prop in (node.get("properties") or {}).items():
        inner = _resolve(schema, _resolve(schema, prop).get("items", {}))
        if inner.get("properties") and rng.random() < 0.5:
            body[name] = [api_object(rng, schema, inner) for _ in range(rng.randint(1, 3))]
    return body, None


def api_object(rng: random.Random, schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, prop in (node.get("properties") or {}).items():
        if rng.random() < 0.8:
            body[name] = hostile_value(rng, schema, name, prop)
    if rng.random() < 0.2:
        body[rng.choice(["extra", "__proto__", "\x00", "a" * 300])] = rng.choice(JSON_JUNK)
    return body


def api_path(rng: random.Random, path: str, operation: dict[str, Any], codes: list[str]) -> str:
    for param in operation.get("parameters", []):
        if param.get("in") != "path":
            continue
        kind = _resolve(_schema(), param.get("schema", {})).get("type")
        if kind == "integer":
            value = rng.choice(INT_PATH)
        else:
            roll = rng.random()
            value = rng.choice(codes) if roll < 0.6 else str(uuid.UUID(int=rng.getrandbits(128))) if roll < 0.85 \
                else rng.choice(CODES[1:2] + ["x"])
        path = path.replace("{" + param["name"] + "}", value)
    return path


def api_query(rng: random.Random, operation: dict[str, Any]) -> dict[str, str]:
    query = {}
    for param in operation.get("parameters", []):
        if param.get("in") == "query" and rng.random() < 0.6:
            kinds, formats = _kinds(_schema(), param.get("schema", {}))
            query[param["name"]] = (rng.choice(DATES) if formats & {"date", "date-time"}
                                    else rng.choice(NUMBERS) if kinds & {"integer", "number"} and rng.random() < 0.6
                                    else by_name(rng, param["name"]))
    if rng.random() < 0.1:
        query[rng.choice(QUERY_NAMES)] = rng.choice(STRINGS)
    return query


def api_cases(rng: random.Random) -> Iterator[tuple[str, str, dict[str, Any]]]:
    schema = _schema()
    operations = sorted(((method.upper(), path, op) for path, item in schema["paths"].items()
                         for method, op in item.items()), key=lambda o: (o[1], o[0]))
    every = operations[:]
    rng.shuffle(every)
    yield from every
    for _ in range(API_REQUESTS - len(every)):
        yield rng.choice(operations)


def test_the_sample_reaches_every_operation_and_stays_bounded():
    drawn = list(api_cases(random.Random(SEED)))
    schema = _schema()
    assert {(m, p) for m, p, _o in drawn} == {(m.upper(), p) for p, item in schema["paths"].items() for m in item}
    assert len(drawn) == max(API_REQUESTS, len(drawn)) and len(drawn) < 400 * SCALE


def test_hostile_input_to_any_api_operation_is_never_a_server_error(scene, login_verified):
    rng = random.Random(SEED)
    keyed = HttpClient(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {scene['key']}")
    staff = HttpClient(raise_request_exception=False)
    login_verified(staff, scene["admin"])
    schema = _schema()
    wrong = []
    for method, path, operation in api_cases(rng):
        concrete = api_path(rng, path, operation, scene["codes"])
        query = api_query(rng, operation)
        body, raw = api_body(rng, schema, operation) if method != "GET" else (None, None)
        caller, http = ("key", keyed) if rng.random() < 0.65 else ("administrator", staff)
        if method == "GET":
            response = send(lambda http=http, concrete=concrete, query=query: http.get(concrete, query))
        else:
            data = raw if raw is not None else json.dumps(body)
            target = concrete + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
            response = send(lambda http=http, data=data, target=target, method=method: http.generic(
                method, target, data, content_type="application/json"))
        if response.status_code >= 500:
            wrong.append(f"{method} {path} as {caller} -> {response.status_code}: path {concrete}, "
                         f"query {shown(query)}, body {shown(raw if raw is not None else body)}")
    assert not wrong, f"CRM_FUZZ_SEED={SEED}\n" + "\n".join(wrong)


# --- the pages and their forms -------------------------------------------------------------------------


def hostile_form(rng: random.Random, fields: dict[str, list[str]], typed: list[str]) -> dict[str, list[str]]:
    """The form as rendered (hidden fields and first options kept), with some of its fields, typed
    or not, swapped for hostile values, some dropped, some sent twice."""
    data = {name: list(values) for name, values in fields.items() if name != "csrfmiddlewaretoken"}
    for name in typed:
        data.setdefault(name, [""])
    for name in list(data):
        roll = rng.random()
        if roll < 0.55:
            data[name] = [by_name(rng, name)]
        elif roll < 0.62:
            del data[name]
        elif roll < 0.67:
            data[name] = [by_name(rng, name), by_name(rng, name)]
    if rng.random() < 0.2:
        data[rng.choice(QUERY_NAMES)] = [rng.choice(STRINGS)]
    return data


_NAME_RE = re.compile(r'name="([A-Za-z_][\w-]{0,40})"')


def hostile_query(rng: random.Random, link: str, html: str) -> dict[str, str]:
    """Hostile values for some of the parameters the page reads: its links' and its forms' (the
    filters of a list are a GET form), and a few common ones."""
    names = (set(parse_qs(urlsplit(link).query)) | set(_NAME_RE.findall(html))) - {"csrfmiddlewaretoken"}
    drawn = set(rng.sample(sorted(names), min(6, len(names)))) | {rng.choice(QUERY_NAMES) for _ in range(2)}
    return {name: by_name(rng, name) for name in sorted(drawn)}


def test_hostile_input_to_a_sample_of_pages_and_their_forms_is_never_a_server_error(scene, login_verified):
    rng = random.Random(SEED)
    staff = HttpClient(raise_request_exception=False)
    login_verified(staff, scene["admin"])
    visitor = HttpClient(raise_request_exception=False)
    paths = page_paths()
    drawn = rng.sample(paths, min(PAGES, len(paths)))
    # The visitor's pages (sign-in, the public lead form, the partner application) every run.
    plan = [(staff, p) for p in drawn] + [(visitor, p) for p in ["/login/", *brand_pages()]]
    wrong: list[str] = []
    forms: dict[tuple[Any, ...], tuple[HttpClient, str, dict[str, list[str]], list[str]]] = {}
    linked: set[str] = set()

    def visit(http: HttpClient, link: str, who: str) -> None:
        response = send(lambda: http.get(link))
        if response.status_code >= 500:
            wrong.append(f"GET {link} as {who} -> {response.status_code}")
            return
        html = response.content.decode(errors="replace") if "html" in response.get("Content-Type", "") else ""
        for _ in range(QUERY_PROBES_PER_PAGE):
            query = hostile_query(rng, link, html)
            probed = send(lambda query=query: http.get(urlsplit(link).path, query))
            if probed.status_code >= 500:
                wrong.append(f"GET {urlsplit(link).path} as {who} -> {probed.status_code}: query {shown(query)}")
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            return
        parsed = PageParser(urlsplit(link).path)
        parsed.feed(html)
        linked.update(p for p in parsed.links if is_page(p))
        for form in parsed.forms:
            if is_page(form.action):
                key = (who, resolve(form.action).route, tuple(sorted(form.typed)), tuple(sorted(form.fields)))
                forms.setdefault(key, (http, form.action, form.fields, form.typed))

    for http, path in plan:
        visit(http, path, "administrator" if http is staff else "visitor")
    for link in rng.sample(sorted(linked), min(LINKS, len(linked))):
        visit(staff, link, "administrator")
    assert forms, "the sample found no form"
    for (who, route, _typed, _fields), (http, action, fields, typed) in sorted(forms.items(), key=lambda f: f[0][:2]):
        for _ in range(POSTS_PER_FORM):
            data = hostile_form(rng, fields, typed)
            response = send(lambda http=http, action=action, data=data: http.post(action, data))
            if response.status_code >= 500:
                wrong.append(f"POST {action} ({route}) as {who} -> {response.status_code}: "
                             f"{ {k: [shown(v) for v in vs] for k, vs in data.items()} }")
    assert not wrong, f"CRM_FUZZ_SEED={SEED}\n" + "\n".join(wrong)

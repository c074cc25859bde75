"""The migration import of the partner programme (`manage.py ib_import FILE.json`): instruments and
their groups, FX rates, partners with parents, plans with versions, plan assignments and account
overrides, clients with their referring partner and trading accounts, and deposits. The format is
documented in README.md ("Partner commissions"), with a full example in ib/examples/.

Everything goes through the services, in one transaction: a bad entry names where it is
("plans[0].versions[1].rules[0].level_rates") and nothing is written. Rerunning the same file
changes nothing: partners and clients are found by e-mail, plans by name, versions by
(effective_from, recorded_at), assignments by (target, effective_from), deposits by reference.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext

from crm.exceptions import DomainError, NotFound, ValidationFailed
from crm.forms import visible_brands
from crm.jobs import job_start
from crm.lib.money import money_parse
from crm.lib.validation import InvalidValue
from crm.models import Brand, Client
from crm.permissions import user_can
from ib import commissions as cs
from ib import services
from ib.models import ClientDeposit, CommissionPlan, Partner, PlanAssignment, PlanVersion
from trading.models import PlatformServer, TradingAccount


class ImportFailed(Exception):
    def __init__(self, where: str, message: str) -> None:
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}")


def _req(entry: Mapping[str, Any], key: str, where: str) -> Any:
    value = entry.get(key)
    if value in (None, ""):
        raise ImportFailed(f"{where}.{key}", "required")
    return value


def _when(value: Any, where: str) -> dt.datetime:
    parsed = parse_datetime(str(value)) if value else None
    if parsed is None:
        raise ImportFailed(where, "a date and time such as 2024-03-01T00:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _day(value: Any, where: str) -> dt.date:
    parsed = parse_date(str(value)) if value else None
    if parsed is None:
        raise ImportFailed(where, "a date such as 2024-03-01")
    return parsed


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ImportFailed(key, "a list")
    return value


@transaction.atomic
def ib_import(data: Mapping[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    where = "brand"
    try:
        brand = Brand.objects.filter(code=_req(data, "brand", "")).first()
        if brand is None:
            raise ImportFailed("brand", f"no brand {data['brand']!r}")
        server = None
        if data.get("server"):
            server = PlatformServer.objects.filter(brand=brand, name=data["server"]).first()
            if server is None:
                raise ImportFailed("server", f"no server named {data['server']!r} on this brand")
        groups = {}
        for i, g in enumerate(_list(data, "instrument_groups")):
            where = f"instrument_groups[{i}]"
            groups[g.get("code")] = cs.instrument_group_save(actor=None, brand=brand, code=_req(g, "code", where),
                                                             name=g.get("name", ""),
                                                             units_per_lot=g.get("units_per_lot", "100000"))
            counts["instrument groups"] += 1
        for i, ins in enumerate(_list(data, "instruments")):
            where = f"instruments[{i}]"
            group = groups.get(ins.get("group"))
            if group is None:
                raise ImportFailed(f"{where}.group", f"no instrument group {ins.get('group')!r} in this file")
            cs.instrument_save(actor=None, brand=brand, symbol=_req(ins, "symbol", where), group=group,
                               contract_size=_req(ins, "contract_size", where),
                               profit_currency=ins.get("profit_currency", "USD"))
            counts["instruments"] += 1
        for i, fx in enumerate(_list(data, "fx_rates")):
            where = f"fx_rates[{i}]"
            cs.fx_rate_set(actor=None, base=_req(fx, "base", where), quote=_req(fx, "quote", where),
                           day=_day(fx.get("day"), f"{where}.day"), rate=_req(fx, "rate", where),
                           source=fx.get("source", "import"))
            counts["fx rates"] += 1
        partners: dict[str, Partner] = {}
        for i, p in enumerate(_list(data, "partners")):
            where = f"partners[{i}]"
            ref, email = _req(p, "ref", where), _req(p, "email", where)
            parent = None
            if p.get("parent"):
                parent = partners.get(p["parent"])
                if parent is None:
                    raise ImportFailed(f"{where}.parent", f"no partner {p['parent']!r} before this one")
            partner = Partner.objects.filter(brand=brand, contact_email__iexact=email).first()
            if partner is None:
                partner = services.partner_create(actor=None, brand=brand, display_name=_req(p, "name", where),
                                                  email=email, parent=parent, country=p.get("country", ""))
                counts["partners"] += 1
            partners[ref] = partner
        plans: dict[str, CommissionPlan] = {}
        for i, pl in enumerate(_list(data, "plans")):
            where = f"plans[{i}]"
            name = _req(pl, "name", where)
            plan = CommissionPlan.objects.filter(brand=brand, name=name).first()
            if plan is None:
                plan = cs.plan_create(actor=None, brand=brand, name=name, currency=pl.get("currency", "USD"))
                counts["plans"] += 1
            plans[name] = plan
            for j, v in enumerate(pl.get("versions") or []):
                where = f"plans[{i}].versions[{j}]"
                effective = _when(v.get("effective_from"), f"{where}.effective_from")
                recorded = _when(v.get("recorded_at") or v.get("effective_from"), f"{where}.recorded_at")
                if PlanVersion.objects.filter(plan=plan, effective_from=effective, recorded_at=recorded).exists():
                    continue
                cs.plan_version_record(
                    actor=None, plan=plan, effective_from=effective, recorded_at=recorded, rules=v.get("rules") or [],
                    min_hold_seconds=int(v.get("min_hold_seconds", 0)), split_mode=v.get("split_mode", "levels"),
                    pass_up_percent=v.get("pass_up_percent", "0"), period_cap=v.get("period_cap"),
                    period_minimum=v.get("period_minimum"), note=v.get("note", ""))
                counts["plan versions"] += 1
        clients: dict[str, Client] = {}
        for i, c in enumerate(_list(data, "clients")):
            where = f"clients[{i}]"
            ref, email = _req(c, "ref", where), _req(c, "email", where)
            client = Client.objects.filter(brand=brand, email__iexact=email).first()
            if client is None:
                from crm.services import client_create

                client = client_create(actor=None, brand=brand, first_name=_req(c, "first_name", where),
                                       last_name=c.get("last_name", ""), email=email, country=c.get("country", ""))
                counts["clients"] += 1
            clients[ref] = client
            if c.get("partner"):
                partner = partners.get(c["partner"])
                if partner is None:
                    raise ImportFailed(f"{where}.partner", f"no partner {c['partner']!r} in this file")
                result = services.client_attribution_import(actor=None, client=client, partner=partner,
                                                            touched_at=_when(c.get("since"), f"{where}.since"),
                                                            reason="migration import")
                counts["attributions"] += result is not None
            for k, a in enumerate(c.get("accounts") or []):
                where = f"clients[{i}].accounts[{k}]"
                if server is None:
                    raise ImportFailed("server", "required when clients have accounts")
                from trading.services import trading_account_register

                login = int(_req(a, "login", where))
                counts["accounts"] += not TradingAccount.objects.filter(server=server, login=login).exists()
                trading_account_register(actor=None, client=client, server=server, login=login,
                                         account_type=_req(a, "account_type", where), currency=a.get("currency", ""))
        for i, asg in enumerate(_list(data, "assignments")):
            where = f"assignments[{i}]"
            plan = plans.get(asg.get("plan")) or CommissionPlan.objects.filter(brand=brand, name=asg.get("plan")).first()
            if plan is None:
                raise ImportFailed(f"{where}.plan", f"no plan {asg.get('plan')!r}")
            effective = _when(asg.get("effective_from"), f"{where}.effective_from")
            target: dict[str, Any] = {}
            if asg.get("partner"):
                if asg["partner"] not in partners:
                    raise ImportFailed(f"{where}.partner", f"no partner {asg['partner']!r} in this file")
                target["partner"] = partners[asg["partner"]]
            elif asg.get("account"):
                account = TradingAccount.objects.filter(server=server, login=asg["account"]).first()
                if account is None:
                    raise ImportFailed(f"{where}.account", f"no account {asg['account']!r} on the server")
                target["account"] = account
            else:
                raise ImportFailed(where, "name a partner or an account")
            if PlanAssignment.objects.filter(effective_from=effective, **target).exists():
                continue
            cs.plan_assign(actor=None, plan=plan, effective_from=effective, **target)
            counts["assignments"] += 1
        for i, dep in enumerate(_list(data, "deposits")):
            where = f"deposits[{i}]"
            client = clients.get(dep.get("client"))
            if client is None:
                raise ImportFailed(f"{where}.client", f"no client {dep.get('client')!r} in this file")
            counts["deposits"] += not ClientDeposit.objects.filter(reference=dep.get("reference")).exists()
            try:
                raw = _req(dep, "amount", where)
                amount = money_parse(repr(raw) if isinstance(raw, float) else raw, _req(dep, "currency", where),
                                     typed=False)  # at most the currency's decimals; a JSON number as written
            except InvalidValue as error:
                raise ImportFailed(f"{where}.{error.field}", error.message) from None
            cs.deposit_record(client=client, amount=amount, at=_when(dep.get("at"), f"{where}.at"),
                              reference=_req(dep, "reference", where), source="import")
    except DomainError as error:
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in error.fields.items()) or error.message
        raise ImportFailed(where, detail) from None
    return counts


IMPORT_JOB_KIND = "ib.import"
IMPORT_MAX_BYTES = 20 * 1024 * 1024


def ib_import_start(*, actor: Any, data: bytes, file_name: str) -> Any:
    """The IB manager's upload: the file is read (a JSON object naming a brand the manager works
    for, at most 20 MB: refused by name otherwise), kept in the storage, and imported by a
    django-rq job whose page shows what was imported or where the file is wrong."""
    if not user_can(actor, cs.MANAGE):
        raise NotFound()
    if len(data) > IMPORT_MAX_BYTES:
        raise ValidationFailed(fields={"file": gettext("The file is larger than 20 MB.")})
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValidationFailed(fields={"file": gettext("Not a JSON file: %(error)s.") % {"error": error}}) from None
    if not isinstance(parsed, dict):
        raise ValidationFailed(fields={"file": gettext("The file must hold one JSON object.")})
    brand = visible_brands(actor).filter(code=str(parsed.get("brand") or "")).first()
    if brand is None:
        raise ValidationFailed(fields={"file": gettext("The file's brand %(brand)r is not one you work for.")
                                       % {"brand": parsed.get("brand")}})
    name = (file_name or "import.json").rsplit("/", 1)[-1][:100]
    stored = default_storage.save(f"ib-imports/{uuid.uuid4()}-{name}", ContentFile(data))
    return job_start(kind=IMPORT_JOB_KIND, actor=actor, brand=brand, func="ib.importer.ib_import_job",
                     title=gettext("Partner programme import %(file)s") % {"file": name}, kwargs={"path": stored})


def ib_import_job(handle: Any, *, path: str) -> None:
    """The job: `ib_import` of the stored file, all or nothing; the counts of what was new."""
    with default_storage.open(path, "rb") as fh:
        data = json.loads(fh.read().decode("utf-8"))
    try:
        counts = ib_import(data)
    except ImportFailed as error:
        raise ValidationFailed(f"{error.where}: {error.message} (nothing was imported)") from None
    handle.progress(1, 1, force=True, **{name.replace(" ", "_"): n for name, n in counts.items()})

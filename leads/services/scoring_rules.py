"""Lead scoring rules (administrators); the scoring itself is leads.scoring."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import FieldErrors, ValidationFailed
from crm.models import Brand, User
from leads.config import config_changed
from leads.models import ScoringKind, ScoringRule
from leads.scoring import params_clean
from leads.services.common import _require_admin, _snapshot, text_field

SCORING_FIELDS = ("name", "kind", "params", "points", "is_active", "order")


@transaction.atomic
def scoring_rule_save(*, actor: User | None, brand: Brand, name: str, kind: str, params: Any, points: int,
                      is_active: bool = True, order: int | None = None, rule: ScoringRule | None = None) -> ScoringRule:
    """Create or change a scoring rule; `params` are checked for the kind (leads.scoring)."""
    _require_admin(actor)
    errors = FieldErrors()
    name = text_field(name, "name", 120, required=True, errors=errors)
    if kind not in ScoringKind.values:
        errors.add("kind", gettext("Choose a valid kind of rule."))
    else:
        try:
            params = params_clean(kind, params)
        except ValidationFailed as exc:
            for key, messages in exc.fields.items():
                for message in messages:
                    errors.add(key, message)
    if isinstance(points, bool) or not isinstance(points, int) or not -100 <= points <= 100:
        errors.add("points", gettext("Give whole points between -100 and 100."))
    errors.raise_if_any()
    before = _snapshot(rule, SCORING_FIELDS) if rule is not None else None
    if rule is None:
        last = ScoringRule.objects.filter(brand_id=brand.pk).order_by("-order").values_list("order", flat=True).first()
        rule = ScoringRule(brand=brand, order=(last or 0) + 10 if order is None else order)
    elif order is not None:
        rule.order = order
    rule.name, rule.kind, rule.params, rule.points, rule.is_active = name, kind, params, points, bool(is_active)
    rule.save()
    audit_record(action="scoring_rule.save", obj=rule, before=before, after=_snapshot(rule, SCORING_FIELDS), actor=actor)
    config_changed(brand.pk)
    return rule


@transaction.atomic
def scoring_rule_delete(*, actor: User | None, rule: ScoringRule) -> None:
    _require_admin(actor)
    audit_record(action="scoring_rule.delete", obj=rule, before=_snapshot(rule, SCORING_FIELDS), actor=actor)
    config_changed(rule.brand_id)
    rule.delete()

"""The client's facts for segments (plumbing.segments), registered when leads loads: stage, country,
language, desk, owner, source, campaign, tags and registration, read from the core's published client
view, and the client's pipeline status, read from leads' own tables. The sales desk's segments filter
on some of them (leads.segments); marketing's builder offers all of them beside its own facts."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.validation import country_normalise, language_normalise
from crm.models import Brand, Desk, Stage, User
from plumbing.segments import BadValue, Fact, fact_register

# A client without a pipeline row is at its brand's first active status (leads.models.ClientPipeline).
_PIPELINE_STATUS = (
    "coalesce((SELECT s.key FROM leads_clientpipeline p JOIN leads_pipelinestatus s ON s.id = p.status_id "
    "WHERE p.client_id = c.id), (SELECT f.key FROM leads_pipelinestatus f WHERE f.brand_id = c.brand_id "
    'AND f.is_active ORDER BY f."order", f.id LIMIT 1))'
)


def _stage(text: str, path: str) -> str:
    if text not in Stage.values:
        raise BadValue(gettext("unknown stage “%(v)s”.") % {"v": text[:40]})
    return text


def _desks(brand: Brand, values: list[str]) -> Iterable[int]:
    return Desk.objects.filter(brand=brand, pk__in=[int(v) for v in values]).values_list("pk", flat=True)


def _owners(brand: Brand, values: list[str]) -> Iterable[int]:
    return User.objects.filter(pk__in=[int(v) for v in values]).values_list("pk", flat=True)


def _statuses(brand: Brand, values: list[str]) -> Iterable[str]:
    from leads.models import PipelineStatus

    return PipelineStatus.objects.filter(brand=brand, key__in=values).values_list("key", flat=True)


_CLIENT = _("Client")

fact_register(
    Fact("stage", _("Stage"), "choice", _CLIENT, 10, column="c.stage", normalise=_stage),
    Fact("country", _("Country"), "choice", _CLIENT, 20, column="c.country", help=_("ISO codes: GB DE ES"),
         normalise=lambda text, path: country_normalise(text, field=path)),
    Fact("language", _("Language"), "choice", _CLIENT, 30, column="c.language", help=_("ISO codes: en es"),
         normalise=lambda text, path: language_normalise(text, field=path)),
    Fact("desk", _("Desk"), "choice", _CLIENT, 40, column="c.desk_id", ids=True, known=_desks),
    Fact("owner", _("Owner"), "choice", _CLIENT, 50, column="c.owner_id", ids=True, known=_owners),
    Fact("source", _("Source"), "choice", _CLIENT, 60, column="c.source"),
    Fact("campaign", _("Campaign"), "choice", _CLIENT, 70, column="c.campaign"),
    Fact("tags", _("Tags"), "tags", _CLIENT, 80),
    Fact("registered", _("Registered"), "registered", _CLIENT, 90, column="c.created_at"),
    Fact("pipeline_status", _("Pipeline status"), "choice", _CLIENT, 95, column=_PIPELINE_STATUS,
         help=_("Keys: interested"), known=_statuses),
)

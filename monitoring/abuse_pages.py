"""The linked-accounts graph on the client's page (a profile tab) and on the partner's page (a panel
ib lends a hook for), drawn with the core's star graph (plumbing.graphs, as compliance's case page
draws related clients). Only clients within the viewer's scope are drawn."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Client
from crm.permissions import client_queryset_for_user, user_can
from monitoring.abuse import VIA_WORDS, client_links, clients_links_among
from plumbing.graphs import StarNode, star_graph

VIEW_PERMISSION = "monitoring.view_monitoringalert"
SHOWN = 12


def _vias(vias: list[dict[str, Any]]) -> str:
    return ", ".join(VIA_WORDS.get(v["via"], v["via"]) for v in vias)


def linked_tab_context(request: Any, client: Client) -> dict[str, Any]:
    rows = client_links(client_id=client.pk, brand_id=client.brand_id)
    visible = {c.pk: c for c in client_queryset_for_user(request.user).filter(pk__in=[r["other"] for r in rows])}
    shown = [r for r in rows if r["other"] in visible][:SHOWN]
    nodes = [StarNode(label=visible[r["other"]].full_name, url=f"/clients/{visible[r['other']].code}/",
                      edge=str(r["weight"]), obj=visible[r["other"]]) for r in shown]
    return {"linked": [{"client": visible[r["other"]], "weight": r["weight"], "vias": _vias(r["vias"])}
                       for r in shown],
            "graph": star_graph(client.full_name, nodes, aria=gettext("Clients linked to this one")) if nodes
            else None}


def partner_panel(*, request: Any, partner: Any) -> dict[str, Any] | None:
    """The partner in the middle; around it, its clients (in the viewer's scope) linked to another of
    its clients or to its own client record, each edge saying to how many."""
    if not user_can(request.user, VIEW_PERMISSION):
        return None
    from ib.selectors import partner_clients

    ids = list(partner_clients(partner).values_list("client_id", flat=True).distinct()[:2000])
    if partner.client_id:
        ids.append(partner.client_id)
    pairs = clients_links_among(client_ids=ids, brand_id=partner.brand_id) if ids else []
    degree: dict[int, list[str]] = {}
    for pair in pairs:
        for me, other in ((pair["a"], pair["b"]), (pair["b"], pair["a"])):
            degree.setdefault(me, []).append(_vias(pair["vias"]) + f" ({gettext('client')} {other})")
    visible = {c.pk: c for c in client_queryset_for_user(request.user).filter(pk__in=list(degree))}
    ranked = sorted((pk for pk in degree if pk in visible), key=lambda pk: (-len(degree[pk]), pk))[:SHOWN]
    nodes = [StarNode(label=visible[pk].full_name, url=f"/clients/{visible[pk].code}/",
                      edge=str(len(degree[pk])), obj=visible[pk]) for pk in ranked]
    return {"template": "monitoring/partner_linked_panel.html",
            "linked": [{"client": visible[pk], "own": pk == partner.client_id, "links": degree[pk]} for pk in ranked],
            "graph": star_graph(partner.display_name, nodes, aria=gettext("The partner's linked clients"))
            if nodes else None}


def register() -> None:
    """Called from monitoring's AppConfig.ready()."""
    from crm.registry import ClientTab, contribute
    from ib.selectors import register_partner_panel

    contribute("monitoring_abuse", tabs=[ClientTab(key="linked", label=_("Linked accounts"),
                                                   template="monitoring/client_linked_tab.html",
                                                   permission=VIEW_PERMISSION, order=90,
                                                   context=linked_tab_context)])
    register_partner_panel(partner_panel)

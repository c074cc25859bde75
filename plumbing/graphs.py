"""A small star graph laid out for a server-rendered SVG (templates/crm/_star_graph.html): one subject
in the middle, the others on a circle around it, each edge labelled. Compliance's case page draws the
clients related to a case's client with it; monitoring draws a client's and a partner's linked
accounts. No models: labels and links come from the caller."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StarNode:
    label: str
    url: str
    edge: str  # what joins it to the centre, in words
    obj: Any = None  # what the caller drew it for (templates may read it)


def star_graph(centre: str, nodes: list[StarNode], *, size: int = 320, aria: str = "") -> dict[str, Any]:
    """{"size", "centre", "label", "aria", "nodes": [{"x", "y", "label", "url", "obj"}],
    "edges": [{"x", "y", "lx", "ly", "label"}]}: coordinates rounded to a tenth."""
    middle = size / 2
    radius = size / 2 - 40
    count = max(len(nodes), 1)
    placed, edges = [], []
    for i, node in enumerate(nodes):
        angle = 2 * math.pi * i / count - math.pi / 2
        x, y = round(middle + radius * math.cos(angle), 1), round(middle + radius * math.sin(angle), 1)
        placed.append({"x": x, "y": y, "label": node.label, "url": node.url, "obj": node.obj})
        edges.append({"x": x, "y": y, "lx": round((middle + x) / 2, 1), "ly": round((middle + y) / 2, 1),
                      "label": node.edge})
    return {"size": size, "centre": middle, "label": centre, "aria": aria, "nodes": placed, "edges": edges}

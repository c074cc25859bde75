from __future__ import annotations

from typing import TypedDict

from crm.events.catalogue import declare


class GadgetPolished(TypedDict):
    shine: str


declare("gadget.polished", payload=GadgetPolished, version=1, description="A gadget was polished (test app).")

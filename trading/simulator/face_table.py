"""Every platform's face the simulator can wear, by the name `--face` takes. Apart from
trading.simulator.faces, so that the faces built on its classes (Sirix, MT4 bridge) do not have to
be imported back into it."""

from __future__ import annotations

from .face_mt4bridge import MT4BridgeHandler
from .face_sirix import SirixHandler
from .faces import CTraderHandler, MatchTraderHandler
from .server import Handler

FACES: dict[str, type[Handler]] = {"mt5": Handler, "ctrader": CTraderHandler, "matchtrader": MatchTraderHandler,
                                   "sirix": SirixHandler, "mt4bridge": MT4BridgeHandler}

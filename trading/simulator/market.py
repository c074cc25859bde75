"""The simulated market: about twenty symbols moving by a seeded random walk.

Each symbol has the properties an MT5 symbol carries (digits, contract size, profit and margin
currency) plus a typical spread and yearly volatility. Prices move as a geometric random walk whose
step is scaled to the simulated time that passed, so one hour of ticks moves a price as much as
one hour should. Conversion rates to the account currency (USD) come from the majors.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

SECONDS_PER_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class SymbolSpec:
    name: str
    digits: int
    contract_size: int
    start: str  # mid price at the start of a fresh state
    spread: str  # typical spread in price units
    vol: float  # yearly volatility of the log price
    profit_ccy: str
    margin_ccy: str  # base currency for FX; profit currency for CFDs
    fx: bool  # FX margin is notional in the base currency; CFD margin is notional * price
    max_leverage: int
    swap_long: float  # yearly financing rate charged (negative) or paid on longs
    swap_short: float
    path: str

    @property
    def point(self) -> Decimal:
        return Decimal(1).scaleb(-self.digits)

    @property
    def volume_step_ext(self) -> int:
        # 0.01 lot in MT5's extended volume units (1/100000000 lot).
        return 1_000_000


SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec(
        "EURUSD",
        5,
        100_000,
        "1.08500",
        "0.00012",
        0.07,
        "USD",
        "EUR",
        True,
        500,
        -0.035,
        0.012,
        "Forex\\Majors",
    ),
    SymbolSpec(
        "GBPUSD",
        5,
        100_000,
        "1.27000",
        "0.00015",
        0.08,
        "USD",
        "GBP",
        True,
        500,
        -0.030,
        0.010,
        "Forex\\Majors",
    ),
    SymbolSpec(
        "USDJPY",
        3,
        100_000,
        "150.000",
        "0.015",
        0.09,
        "JPY",
        "USD",
        True,
        500,
        0.040,
        -0.060,
        "Forex\\Majors",
    ),
    SymbolSpec(
        "USDCHF",
        5,
        100_000,
        "0.88000",
        "0.00016",
        0.07,
        "CHF",
        "USD",
        True,
        500,
        0.020,
        -0.045,
        "Forex\\Majors",
    ),
    SymbolSpec(
        "AUDUSD",
        5,
        100_000,
        "0.66000",
        "0.00014",
        0.09,
        "USD",
        "AUD",
        True,
        500,
        -0.020,
        0.005,
        "Forex\\Majors",
    ),
    SymbolSpec(
        "USDCAD",
        5,
        100_000,
        "1.36000",
        "0.00018",
        0.06,
        "CAD",
        "USD",
        True,
        500,
        0.005,
        -0.025,
        "Forex\\Majors",
    ),
    SymbolSpec(
        "NZDUSD",
        5,
        100_000,
        "0.61000",
        "0.00018",
        0.09,
        "USD",
        "NZD",
        True,
        500,
        -0.015,
        0.002,
        "Forex\\Majors",
    ),
    SymbolSpec(
        "EURGBP",
        5,
        100_000,
        "0.85500",
        "0.00015",
        0.05,
        "GBP",
        "EUR",
        True,
        500,
        -0.020,
        0.004,
        "Forex\\Crosses",
    ),
    SymbolSpec(
        "EURJPY",
        3,
        100_000,
        "162.800",
        "0.020",
        0.09,
        "JPY",
        "EUR",
        True,
        500,
        0.020,
        -0.050,
        "Forex\\Crosses",
    ),
    SymbolSpec(
        "GBPJPY",
        3,
        100_000,
        "190.500",
        "0.030",
        0.10,
        "JPY",
        "GBP",
        True,
        500,
        0.025,
        -0.055,
        "Forex\\Crosses",
    ),
    SymbolSpec(
        "EURCHF",
        5,
        100_000,
        "0.95500",
        "0.00020",
        0.05,
        "CHF",
        "EUR",
        True,
        500,
        -0.010,
        -0.020,
        "Forex\\Crosses",
    ),
    SymbolSpec(
        "AUDJPY",
        3,
        100_000,
        "99.000",
        "0.020",
        0.11,
        "JPY",
        "AUD",
        True,
        500,
        0.030,
        -0.050,
        "Forex\\Crosses",
    ),
    SymbolSpec("XAUUSD", 2, 100, "2350.00", "0.30", 0.15, "USD", "USD", False, 200, -0.050, 0.010, "Metals"),
    SymbolSpec(
        "XAGUSD", 3, 5_000, "28.000", "0.030", 0.25, "USD", "USD", False, 100, -0.050, 0.010, "Metals"
    ),
    SymbolSpec("US30", 1, 1, "39000.0", "2.0", 0.15, "USD", "USD", False, 100, -0.060, 0.010, "Indices"),
    SymbolSpec("US500", 2, 1, "5200.00", "0.50", 0.15, "USD", "USD", False, 100, -0.060, 0.010, "Indices"),
    SymbolSpec("NAS100", 2, 1, "18200.00", "1.00", 0.20, "USD", "USD", False, 100, -0.060, 0.010, "Indices"),
    SymbolSpec("GER40", 1, 1, "18300.0", "1.5", 0.15, "EUR", "EUR", False, 100, -0.055, 0.005, "Indices"),
    SymbolSpec("BTCUSD", 2, 1, "65000.00", "30.00", 0.60, "USD", "USD", False, 10, -0.200, -0.200, "Crypto"),
    SymbolSpec("ETHUSD", 2, 1, "3400.00", "3.00", 0.70, "USD", "USD", False, 10, -0.200, -0.200, "Crypto"),
)
BY_NAME: dict[str, SymbolSpec] = {s.name: s for s in SYMBOLS}
MAJORS = ("EURUSD", "GBPUSD", "USDJPY", "USDCHF", "AUDUSD", "USDCAD")

# How one unit of a currency converts to USD, from the majors' mid prices.
_TO_USD: dict[str, tuple[str, bool]] = {
    "EUR": ("EURUSD", False),
    "GBP": ("GBPUSD", False),
    "AUD": ("AUDUSD", False),
    "NZD": ("NZDUSD", False),
    "JPY": ("USDJPY", True),
    "CHF": ("USDCHF", True),
    "CAD": ("USDCAD", True),
}


@dataclass
class Quote:
    bid: Decimal
    ask: Decimal
    time_msc: int  # UTC milliseconds of the simulated clock

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


class Market:
    """Current and previous quotes of every symbol; ``step`` moves them by ``seconds`` of time."""

    def __init__(self, quotes: dict[str, Quote], previous: dict[str, Quote]) -> None:
        self.quotes = quotes
        self.previous = previous

    @classmethod
    def fresh(cls, time_msc: int) -> Market:
        quotes = {}
        for spec in SYMBOLS:
            mid = Decimal(spec.start)
            half = Decimal(spec.spread) / 2
            quotes[spec.name] = Quote(_q(mid - half, spec), _q(mid + half, spec), time_msc)
        return cls(quotes, dict(quotes))

    def step(self, rng: random.Random, seconds: float, time_msc: int) -> None:
        self.previous = dict(self.quotes)
        scale = math.sqrt(max(seconds, 0.001) / SECONDS_PER_YEAR)
        for spec in SYMBOLS:
            old = self.quotes[spec.name]
            mid = float(old.mid) * math.exp(rng.gauss(0.0, spec.vol * scale))
            spread = float(spec.spread) * (1.0 + 0.35 * abs(rng.gauss(0.0, 1.0)))
            self.set_mid(spec.name, Decimal(repr(mid)), Decimal(repr(spread)), time_msc)

    def set_mid(self, symbol: str, mid: Decimal, spread: Decimal, time_msc: int) -> None:
        spec = BY_NAME[symbol]
        half = max(spread / 2, spec.point)
        bid = _q(mid - half, spec)
        ask = _q(mid + half, spec)
        if ask <= bid:
            ask = bid + spec.point
        self.quotes[symbol] = Quote(bid, ask, time_msc)

    def set_quote(self, symbol: str, bid: Decimal, ask: Decimal, time_msc: int) -> None:
        spec = BY_NAME[symbol]
        self.previous[symbol] = self.quotes[symbol]
        self.quotes[symbol] = Quote(_q(bid, spec), _q(ask, spec), time_msc)

    def usd_rate(self, currency: str) -> Decimal:
        """USD value of one unit of ``currency`` at current mid prices."""
        if currency == "USD":
            return Decimal(1)
        symbol, inverse = _TO_USD[currency]
        mid = self.quotes[symbol].mid
        return (Decimal(1) / mid) if inverse else mid

    def to_json(self) -> dict[str, object]:
        return {
            "quotes": {k: [str(v.bid), str(v.ask), v.time_msc] for k, v in self.quotes.items()},
            "previous": {k: [str(v.bid), str(v.ask), v.time_msc] for k, v in self.previous.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, dict[str, list[object]]]) -> Market:
        def load(raw: dict[str, list[object]]) -> dict[str, Quote]:
            return {k: Quote(Decimal(str(v[0])), Decimal(str(v[1])), int(str(v[2]))) for k, v in raw.items()}

        return cls(load(data["quotes"]), load(data["previous"]))


def _q(value: Decimal, spec: SymbolSpec) -> Decimal:
    return value.quantize(spec.point)

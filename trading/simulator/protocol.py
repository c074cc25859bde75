"""Wire-level facts of the MT5 Web API (REST flavour) as the simulator serves them.

What MetaQuotes documents (support.metaquotes.net, "Web API" > "Authentication", "Maintaining
Connections", "Return Codes", "Deals" / "Trade Requests" pages), restated:

* Every answer is a JSON object whose ``retcode`` is a string holding the numeric code, a space
  and a description, e.g. ``"0 Done"``, ``"3 Invalid parameters"``, ``"13 Not found"``. Code 0 is
  success. Data comes in ``answer`` (an object or an array). Numbers inside answers are JSON
  *strings* (``"Balance": "1000.00"``, ``"Login": "764636"``).
* Authentication is a two-step challenge on a manager account:
  ``GET /api/auth/start?version=<build>&agent=<name>&login=<manager>&type=manager`` returns
  ``retcode``, ``version_access`` and ``srv_rand`` (16 random bytes, hex). ``version`` may be any
  number not below 484; ``agent`` must be non-empty without spaces; ``type`` only ``manager``.
  The client answers within 10 seconds with
  ``GET /api/auth/answer?srv_rand_answer=<hex>&cli_rand=<16 random bytes, hex>`` and gets
  ``retcode``, ``version_access``, ``version_trade`` and ``cli_rand_answer``.
* The password hash is MD5( MD5(password encoded UTF-16LE) || b"WebAPI" ) (binary digests
  concatenated, not hex). ``srv_rand_answer`` = hex MD5(password_hash || bytes(srv_rand));
  ``cli_rand_answer`` = hex MD5(password_hash || bytes(cli_rand)): the same formula in the other
  direction, so the client can check that the server knows the password too. The documentation's
  worked example (password ``Password1``) gives the password hash
  904ba8ecb16273d2f0ae9c3b8a023752, srv_rand 73007dc7184747ce0f7c98516ef1c851 ->
  77fe51827f7fa69dd80fbec9aa33f1bb, cli_rand 4db98fec17aab4dc5a240bdc659e8395 ->
  1732021b1b332f51660b2b315eed3a35 (checked in tests/trading/test_mt5_protocol.py).
* A session lives on the client's connection; the access server drops a connection that sent
  nothing for 180 seconds, after which the client must authenticate again. Clients ping with
  ``/api/test/access`` (answer: only ``retcode``) about every 20 seconds; ``/api/quit`` ends it.
  Clients seen in the wild either keep one keep-alive connection or carry the session in a
  cookie; the simulator honours both (the session is bound to the connection and also to a
  ``MT5WebAPI`` cookie issued at ``/api/auth/start``).
* Return codes (MetaTrader 5 API, EnMTAPIRetcode): 0 done, 1 done/no data, 2 common error,
  3 invalid parameters, 4 invalid data, 8 not enough permissions, 9 operation timeout,
  10 no connection, 11 service not available, 12 too frequent requests, 13 not found,
  1000-1027 authentication failures (1001 invalid account, 1002 account disabled),
  3004 account already exists, 3006 invalid account password, 4005 money limit reached,
  10019 not enough money.
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import ROUND_HALF_EVEN, Decimal

WEBAPI_WORD = b"WebAPI"
MIN_CLIENT_VERSION = 484
VERSION_ACCESS = "4755"
VERSION_TRADE = "4755"
SESSION_COOKIE = "MT5WebAPI"

RETCODE_TEXT: dict[int, str] = {
    0: "Done",
    1: "Done, no data",
    2: "Common error",
    3: "Invalid parameters",
    4: "Invalid data",
    5: "Disk error",
    6: "Memory error",
    7: "Network error",
    8: "Not enough permissions",
    9: "Operation timeout",
    10: "No connection",
    11: "Service is not available",
    12: "Too frequent requests",
    13: "Not found",
    15: "Server shutdown in progress",
    17: "Duplicate data",
    1000: "Invalid terminal type",
    1001: "Invalid account",
    1002: "Account disabled",
    1020: "Unknown account",
    3002: "Logins range exhausted",
    3004: "Account already exists",
    3006: "Invalid account password",
    4005: "Money limit reached",
    10006: "Request rejected",
    10019: "Not enough money",
}


def retcode(code: int) -> str:
    """The ``retcode`` string for a numeric code: ``"13 Not found"``."""
    return f"{code} {RETCODE_TEXT.get(code, 'Error')}"


def password_hash(password: str) -> bytes:
    """Binary MD5(MD5(UTF-16LE password) || 'WebAPI'): what both sides derive from the password."""
    inner = hashlib.md5(password.encode("utf-16-le"), usedforsecurity=False).digest()
    return hashlib.md5(inner + WEBAPI_WORD, usedforsecurity=False).digest()


def challenge_answer(pw_hash: bytes, rand: bytes) -> str:
    """Lower-case hex MD5(password_hash || rand): used for srv_rand_answer and cli_rand_answer."""
    return hashlib.md5(pw_hash + rand, usedforsecurity=False).hexdigest()


def answer_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.lower(), given.strip().lower())


def fmt_decimal(value: Decimal, digits: int) -> str:
    """A fixed-point string with ``digits`` decimals, the way MT5 answers carry prices and money."""
    quantum = Decimal(1).scaleb(-digits)
    return str(value.quantize(quantum, rounding=ROUND_HALF_EVEN))


def parse_int(value: str | None) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None

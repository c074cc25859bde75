"""The MT5 Web API authentication, checked against MetaQuotes' documented example and against an
independent client written only from the documentation (hashlib + urllib)."""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import os
import ssl
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from trading.adapters.base import AuthFailed
from trading.adapters.mt5_web import MT5WebAdapter, webapi_answer, webapi_password_hash
from trading.simulator import protocol

from .conftest import MANAGER_LOGIN, MANAGER_PASSWORD

# MetaQuotes' worked example (Web API > Authentication): password "Password1".
DOC_PASSWORD_HASH = "904ba8ecb16273d2f0ae9c3b8a023752"
DOC_SRV_RAND = "73007dc7184747ce0f7c98516ef1c851"
DOC_SRV_RAND_ANSWER = "77fe51827f7fa69dd80fbec9aa33f1bb"
DOC_CLI_RAND = "4db98fec17aab4dc5a240bdc659e8395"
DOC_CLI_RAND_ANSWER = "1732021b1b332f51660b2b315eed3a35"


def test_adapter_password_hash_matches_documented_example():
    pw_hash = webapi_password_hash("Password1")
    assert pw_hash.hex() == DOC_PASSWORD_HASH
    assert webapi_answer(pw_hash, bytes.fromhex(DOC_SRV_RAND)) == DOC_SRV_RAND_ANSWER
    assert webapi_answer(pw_hash, bytes.fromhex(DOC_CLI_RAND)) == DOC_CLI_RAND_ANSWER


def test_simulator_password_hash_matches_documented_example():
    pw_hash = protocol.password_hash("Password1")
    assert pw_hash.hex() == DOC_PASSWORD_HASH
    assert protocol.challenge_answer(pw_hash, bytes.fromhex(DOC_SRV_RAND)) == DOC_SRV_RAND_ANSWER
    assert protocol.challenge_answer(pw_hash, bytes.fromhex(DOC_CLI_RAND)) == DOC_CLI_RAND_ANSWER


def test_non_ascii_passwords_hash_as_utf16_little_endian():
    expected_inner = hashlib.md5("Пароль1€".encode("utf-16-le")).digest()
    assert webapi_password_hash("Пароль1€") == hashlib.md5(expected_inner + b"WebAPI").digest()
    assert webapi_password_hash("Пароль1€") != webapi_password_hash("Пароль1€".encode().decode("latin-1"))


def _documented_client(sim):
    """A third-party style client: urllib with a cookie jar, a new connection per request."""
    context = ssl.create_default_context(cafile=sim.ca_file)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar)
    )
    base = f"https://localhost:{sim.port}"

    def get(path: str, **params: object) -> dict:
        url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with opener.open(url, timeout=10) as response:
            return json.loads(response.read())

    return get


def test_independent_documented_client_authenticates_and_reads(sim):
    login = sim.seed({"persona": "", "balance": "2500"})[0]
    get = _documented_client(sim)

    start = get("/api/auth/start", version=484, agent="ThirdParty", login=MANAGER_LOGIN, type="manager")
    assert start["retcode"] == "0 Done"
    srv_rand = bytes.fromhex(start["srv_rand"])
    assert len(srv_rand) == 16
    password_hash = hashlib.md5(
        hashlib.md5(MANAGER_PASSWORD.encode("utf-16-le")).digest() + b"WebAPI"
    ).digest()
    cli_rand = os.urandom(16)
    answer = get(
        "/api/auth/answer",
        srv_rand_answer=hashlib.md5(password_hash + srv_rand).hexdigest(),
        cli_rand=cli_rand.hex(),
    )
    assert answer["retcode"] == "0 Done"
    assert answer["cli_rand_answer"] == hashlib.md5(password_hash + cli_rand).hexdigest()

    assert get("/api/test/access")["retcode"] == "0 Done"
    account = get("/api/user/account/get", login=login)
    assert account["retcode"] == "0 Done"
    assert account["answer"]["Balance"] == "2500.00"  # numbers travel as strings
    assert account["answer"]["Login"] == str(login)


def test_documented_client_with_wrong_password_gets_invalid_account(sim):
    get = _documented_client(sim)
    start = get("/api/auth/start", version=484, agent="ThirdParty", login=MANAGER_LOGIN, type="manager")
    wrong = hashlib.md5(hashlib.md5("Wrong1234".encode("utf-16-le")).digest() + b"WebAPI").digest()
    answer = get(
        "/api/auth/answer",
        srv_rand_answer=hashlib.md5(wrong + bytes.fromhex(start["srv_rand"])).hexdigest(),
        cli_rand=os.urandom(16).hex(),
    )
    assert answer["retcode"] == "1001 Invalid account"
    with pytest.raises(urllib.error.HTTPError) as denied:
        get("/api/test/access")
    assert denied.value.code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"version": 483, "agent": "x", "login": MANAGER_LOGIN, "type": "manager"},
        {"version": 484, "agent": "has space", "login": MANAGER_LOGIN, "type": "manager"},
        {"version": 484, "agent": "", "login": MANAGER_LOGIN, "type": "manager"},
        {"version": 484, "agent": "x", "login": MANAGER_LOGIN, "type": "client"},
    ],
)
def test_auth_start_rejects_parameters_the_documentation_forbids(sim, params):
    get = _documented_client(sim)
    assert get("/api/auth/start", **params)["retcode"] == "3 Invalid parameters"


def test_adapter_authenticates_with_the_right_password(sim):
    adapter = sim.adapter()
    assert adapter.server_time().platform_seconds > 0


def test_adapter_with_wrong_password_fails_authentication(sim):
    adapter = sim.adapter(password="NotTheManager9")
    with pytest.raises(AuthFailed) as failed:
        adapter.server_time()
    assert failed.value.retcode == 1001


def test_adapter_with_unknown_manager_login_fails_like_a_wrong_password(sim):
    adapter = sim.adapter(login=4242)
    with pytest.raises(AuthFailed) as failed:
        adapter.account_states([1])
    assert failed.value.retcode == 1001


class _ImpostorHandler(BaseHTTPRequestHandler):
    """Accepts any answer and proves nothing: what a fake server without the password does."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/api/auth/start"):
            body = {"retcode": "0 Done", "version_access": "1", "srv_rand": os.urandom(16).hex()}
        elif self.path.startswith("/api/auth/answer"):
            body = {
                "retcode": "0 Done",
                "version_access": "1",
                "version_trade": "1",
                "cli_rand_answer": "00" * 16,
            }
        else:
            body = {"retcode": "0 Done", "answer": {"time": "1 x"}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_adapter_refuses_a_server_that_cannot_prove_it_knows_the_password(sim):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sim.ca_file, str(sim.state_dir / "key.pem"))
    impostor = ThreadingHTTPServer(("127.0.0.1", 0), _ImpostorHandler)
    impostor.socket = context.wrap_socket(impostor.socket, server_side=True)
    thread = threading.Thread(target=impostor.serve_forever, daemon=True)
    thread.start()
    try:
        adapter = MT5WebAdapter(sim.config(port=impostor.server_address[1]))
        with pytest.raises(AuthFailed, match="cli_rand_answer"):
            adapter.server_time()
        adapter.close()
    finally:
        impostor.shutdown()
        impostor.server_close()

"""The CRM's public address (CRM_PUBLIC_URL) and every absolute URL it hands out.

Links in mails, webhook addresses given to PSPs and KYC vendors, partners' tracking links and their
QR codes: each is `public_url(path)`, built on the one setting, never on the Host header of the
request that asked (a forged Host would send a token or a signed webhook elsewhere) and never on a
guessed port.

The setting is an absolute http(s) URL with a host and nothing after it ("https://crm.example.com",
"http://127.0.0.1:8622"). When it is not set, it is the address the web server listens on (HOST and
PORT, as deploy.gunicorn_conf and `make run` bind them), so `PORT=8622 make run` links to port 8622.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from django.conf import settings

SETTING = "CRM_PUBLIC_URL"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class PublicUrlError(ValueError):
    """A public URL (or the HOST/PORT it is derived from) that cannot be used; the message names the
    variable."""


def public_url_check(value: str, *, name: str = SETTING) -> str:
    """`value` without a trailing slash when it is an absolute http(s) URL with a host and no path,
    query, fragment or credentials; otherwise PublicUrlError naming `name`."""
    got = f"(got {value!r})"
    if not value or value != value.strip() or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PublicUrlError(f"{name} must be an absolute http:// or https:// URL such as "
                             f"https://crm.example.com, without spaces {got}.")
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"} or not value.lower().startswith(("http://", "https://")):
        raise PublicUrlError(f"{name} must start with http:// or https:// {got}.")
    try:
        port = parts.port
    except ValueError:
        raise PublicUrlError(f"{name} has a port that is not a number from 1 to 65535 {got}.") from None
    if not parts.hostname or port == 0:
        raise PublicUrlError(f"{name} must name a host, such as https://crm.example.com {got}.")
    if parts.username is not None or parts.password is not None:
        raise PublicUrlError(f"{name} must not carry a user name or password {got}.")
    if parts.path not in {"", "/"} or parts.query or parts.fragment or "?" in value or "#" in value:
        raise PublicUrlError(f"{name} must be the scheme, host and port only, with no path, query or "
                             f"fragment {got}.")
    return value.rstrip("/")


def public_url_for_bind(host: str, port: int) -> str:
    """The URL of a server bound to `host`:`port` on this machine; a wildcard bind is reached on the
    loopback address."""
    if host in {"0.0.0.0", ""}:  # noqa: S104 - mapping a wildcard bind to a reachable address
        host = "127.0.0.1"
    elif host in {"::", "[::]"}:
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return public_url_check(f"http://{host}:{port}", name="HOST")


def bind_port(environ: Mapping[str, str]) -> int:
    """PORT from `environ` (DEFAULT_PORT when unset or empty); PublicUrlError naming PORT otherwise."""
    raw = environ.get("PORT") or ""
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise PublicUrlError(f"PORT must be a whole number from 1 to 65535 (got {raw!r}).")
    return port


def public_url_from_env(environ: Mapping[str, str]) -> str:
    """CRM_PUBLIC_URL from `environ` when it is set (checked), else the address HOST and PORT bind."""
    explicit = environ.get(SETTING) or ""
    if explicit:
        return public_url_check(explicit)
    return public_url_for_bind(environ.get("HOST") or DEFAULT_HOST, bind_port(environ))


def public_url(path: str = "/") -> str:
    """The absolute URL of `path` (as reverse() gives it) on this CRM's public address."""
    if not path.startswith("/"):
        raise ValueError(f"public_url takes a path starting with '/', not {path!r}")
    return settings.CRM_PUBLIC_URL.rstrip("/") + path

"""Who may write through the console: a page it served, on the host it listens on. Pure.

The console acts with the caller's own AWS credentials, so any page the browser opens could
try to act through it (a form on another site posting to 127.0.0.1, a DNS name rebound to
loopback). A POST is refused unless its Host is one the console serves, its Origin (or,
when a browser sends none, its Referer) is that same host, and it carries the token that only
the console's own pages hold: a secret made per process, compared in constant time. No CORS
header is ever sent, so no other origin can read a reply either.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["CSRF_FIELD", "Guard", "Refusal"]

CSRF_FIELD = "csrf"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# Every address: in a container, the browser reaches it through a port published on loopback.
_ANY = ("0.0.0.0", "::")


class Refusal(Exception):
    """A write refused before anything was read or written; the message says why."""


@dataclass(frozen=True)
class Guard:
    """The checks of one console process: its port, its token, read-only or not."""

    port: int
    read_only: bool = False
    host: str = "127.0.0.1"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def hosts(self) -> frozenset[str]:
        """`host:port` as a browser names the console (loopback by any of its names)."""
        loopback = self.host in _LOOPBACK or self.host in _ANY
        names = {self.host, *_LOOPBACK} if loopback else {self.host}
        return frozenset(f"{name}:{self.port}" for name in names)

    def check_post(self, headers: Mapping[str, str], form: Mapping[str, str]) -> None:
        """Refusal unless the request comes from one of the console's own pages."""
        if self.read_only:
            raise Refusal("the console is read-only (--read-only): nothing is written")
        host = headers.get("host", "")
        if host not in self.hosts():
            raise Refusal(f"Host {host!r} is not this console's")
        origin = headers.get("origin")
        source = origin if origin and origin != "null" else headers.get("referer", "")
        parts = urlsplit(source)
        if parts.scheme != "http" or parts.netloc != host:
            raise Refusal(f"the request comes from {source or 'nowhere'!r}, not from this console")
        sent = form.get(CSRF_FIELD, "")
        if not sent or not hmac.compare_digest(sent.encode(), self.token.encode()):
            raise Refusal("the form's token is missing or wrong: reload the page and try again")

"""Who may drive the live server: its own page, in the browser of the user who started it.

The server starts training runs and writes run folders, and a browser lets any web page send
requests to ``127.0.0.1``. Measured before this guard: a page on another origin, with ``Content-Type:
text/plain`` (a "simple" request, sent without a CORS preflight), started runs and exported them
to any absolute path; a DNS-rebinding page (its own domain name resolved to 127.0.0.1, so the
browser treats the server as that page's origin) could also read the answers. The checks, after
Jupyter's server, in the order they are made (each refusal is one line, as JSON ``{"error": ...}``
under ``/api/``, plain text elsewhere):

1. **Host** (every request, 403): the ``Host`` header must name the address the server listens
   on: ``127.0.0.1``, ``localhost`` or ``[::1]`` or the ``--host`` given, with the server's port.
   A rebinding page's requests carry *its* name (``evil.example:8765``) and are refused, page
   included. Bound to every interface (``--host 0.0.0.0`` or ``::``), any IP literal and this
   machine's host name are accepted too (as Jupyter does): rebinding needs a domain name.
2. **Origin** (``/api/``, 403): a request that carries an ``Origin`` other than the page's own
   (``http://`` + its Host) is refused, so another page's POSTs and event streams never reach a
   route. (Browsers send ``Origin`` with every cross-origin request and every POST.)
3. **Token** (``/api/``, 403): a random token made when the server starts
   (:func:`secrets.token_urlsafe`, 32 bytes), in the URL that is printed and opened
   (``?token=...``); the page keeps it and sends it as ``Authorization: token ...`` (the event
   stream, which cannot set headers, as ``?token=``). Compared with :func:`hmac.compare_digest`,
   whose time does not depend on where the strings first differ. The page and its static files
   load without it (they hold nothing secret) and say what to do when it is missing.
4. **Content-Type** (POST, 415): ``application/json`` only. A cross-origin page can send
   ``text/plain`` without asking; ``application/json`` makes the browser ask first (a preflight
   this server never grants).
5. **Body size** (POST, 413): at most ``MAX_BODY`` bytes (the page's largest request, a
   comparison's settings, is under 2 KB).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import socket

__all__ = ["Guard", "new_token", "MAX_BODY", "LOCAL_NAMES", "WILDCARDS"]

MAX_BODY = 64 * 1024
LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def new_token() -> str:
    """A fresh token: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def _split_host(value: str) -> tuple[str, int | None]:
    """``"[::1]:8765"`` -> ``("::1", 8765)``; ``"localhost"`` -> ``("localhost", None)``."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    else:
        name, sep, port = value.rpartition(":")
        if not sep or ":" in name:  # no port, or a bare IPv6 address (not valid in a Host header)
            name, port = value, None
    if port is not None and not port.isdigit():
        return value, -1
    return name.rstrip("."), int(port) if port else None


def _same_origin(origin: str, host: str) -> bool:
    """Whether ``Origin`` is ``http://`` and the Host the request was sent to (port 80 when not written)."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    if scheme != "http" or not sep or "/" in rest:
        return False  # "null" (a sandboxed frame, a file), https (this server speaks http only), ...
    a, b = _split_host(rest), _split_host(host)
    return a[0] == b[0] and (a[1] or 80) == (b[1] or 80)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """ASGI middleware making the checks above. ``host``: the address given to listen on; ``port``:
    the port (None: the one the connection came in on); ``token``: None for ``--no-token``."""

    def __init__(self, app, host: str = "127.0.0.1", port: int | None = None, token: str | None = None,
                 max_body: int = MAX_BODY):
        self.app, self.port, self.token, self.max_body = app, port, token, max_body
        host = host.strip("[]").lower()
        self.shown = "127.0.0.1" if host in WILDCARDS else f"[{host}]" if ":" in host else host  # for messages
        self.names = {*LOCAL_NAMES, host} - {""}
        self.any_ip = host in WILDCARDS
        if self.any_ip:
            for name in (socket.gethostname(), socket.getfqdn()):
                self.names.add(name.lower())

    # ------------------------------------------------------------------ the checks
    def _host_ok(self, value: str, port: int) -> bool:
        name, given = _split_host(value)
        if (given if given is not None else 80) != port:
            return False
        return name in self.names or (self.any_ip and _is_ip(name))

    def _token_ok(self, headers: dict, query: str) -> str | None:
        """None when the token is right; else the line to answer."""
        if self.token is None:
            return None
        given = None
        auth = headers.get("authorization", "")
        if auth[:6].lower() == "token ":
            given = auth[6:].strip()
        if given is None:
            from urllib.parse import parse_qs

            values = parse_qs(query).get("token")
            given = values[-1] if values else None
        if not given:
            return ("no token: this server answers only the page it opened; open the address `mlplab live` "
                    "printed (it ends in ?token=...)")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode()):
            return ("wrong token (a new one is made each time `mlplab live` starts): open the address it "
                    "printed (it ends in ?token=...)")
        return None

    def refusal(self, scope, headers: dict) -> tuple[int, str] | None:
        """``(status, line)`` for a request that is refused, None for one that may go on."""
        port = self.port if self.port is not None else (scope.get("server") or (None, None))[1]
        host = headers.get("host", "")
        if not self._host_ok(host, port):
            return 403, (f"refused: the request is addressed to {host or '(no Host)'!s}, not to this server "
                         f"({self.shown}:{port}); open the page at the address `mlplab live` printed")
        if not scope["path"].startswith("/api/"):
            return None
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, host):
            return 403, (f"refused: a page of {origin} may not drive this server; only its own page "
                         f"(http://{host}) may")
        line = self._token_ok(headers, scope.get("query_string", b"").decode("latin-1"))
        if line is not None:
            return 403, line
        if scope["method"] == "POST":
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return 415, (f"refused: a POST must send Content-Type application/json, not "
                             f"{ctype or '(none)'}")
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                return 413, f"refused: the request body is larger than {self.max_body // 1024} KB"
        return None

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refused = self.refusal(scope, headers)
        if refused is None and scope["method"] == "POST" and scope["path"].startswith("/api/"):
            body, refused = await self._read_body(receive)
            if refused is None:
                receive = _replay(body, receive)
        if refused is not None:
            return await _answer(scope, send, *refused)
        return await self.app(scope, receive, send)

    async def _read_body(self, receive) -> tuple[bytes, tuple[int, str] | None]:
        """The whole body (a chunked one has no Content-Length: counted as it comes)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", (400, "the request ended before its body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", (413, f"refused: the request body is larger than {self.max_body // 1024} KB")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks), None


def _replay(body: bytes, receive):
    """The body as one message, then the connection's own messages (its disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(scope, send, status: int, line: str) -> None:
    if scope["path"].startswith("/api/"):
        body, ctype = json.dumps({"error": line}).encode(), b"application/json"
    else:
        body, ctype = (line + "\n").encode(), b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})

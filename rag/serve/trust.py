"""`rag serve`'s trust boundary, checked before any route runs (the page and its files too):

1. **Host.** Only the names the server was started for: loopback names and addresses, the
   `--host` it binds, and each `--allowed-host`. A page on another site whose name was rebound
   to 127.0.0.1 (DNS rebinding) sends its own name as `Host`, so it is refused (421) before it
   can read `/info`, ask or ingest. When the server binds every address (0.0.0.0, ::), IP
   literals are allowed as well: a rebound name can never arrive as one.
2. **Origin.** A state-changing request (any method but GET, HEAD, OPTIONS) whose `Origin` is
   present and is not this server's own (the `Host` it was sent to, or an `--allowed-host`
   name, for a reverse proxy that rewrites `Host`) is refused (403): another site's page cannot
   post to it, even with the user's own browser on loopback.
3. **Content type.** Such a request's body must be `application/json` (415): the forms and
   "simple" requests a browser sends cross-site without asking are never read.
4. **Size.** The body is read here, at most `max_body_bytes` of it (413), before the app parses it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY_BYTES = 1 << 20  # 1 MiB: a question, messages or a folder path is a few KB

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def host_name(authority: str) -> str:
    """The lower-case host of a `Host` header or URL authority ("[::1]:8000" -> "::1")."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    if authority.count(":") > 1:  # a bare IPv6 address, no port
        return authority
    return authority.rsplit(":", 1)[0].rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Which `Host` and `Origin` values the server answers.

    Args:
        bind: the address the server binds (`--host`).
        allowed: more names clients may use (`--allowed-host`: a reverse proxy's public
            name, the machine's name on the LAN); "*" turns the Host check off.
    """

    def __init__(self, bind: str = "127.0.0.1", allowed: Iterable[str] = ()) -> None:
        extra = {host_name(a) for a in allowed if a.strip() and a.strip() != "*"}
        self.any_host = any(a.strip() == "*" for a in allowed)
        self.any_ip = bind.strip() in WILDCARDS
        self.allowed = frozenset(extra)  # --allowed-host names: a page there may post (a proxy's name)
        self.names = LOOPBACK_NAMES | self.allowed | ({host_name(bind)} if bind.strip() not in WILDCARDS else set())

    def allows_host(self, host: str | None) -> bool:
        """Whether a request sent with this `Host` header is answered."""
        if not host:
            return False
        name = host_name(host)
        if self.any_host or name in self.names:
            return True
        return _is_ip(name) and (self.any_ip or ipaddress.ip_address(name).is_loopback)

    def allows_origin(self, origin: str, host: str) -> bool:
        """Whether a state-changing request from a page at `origin`, sent to `host`, is served."""
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (a sandboxed frame, a file:// page) and the like
        if _authority(parts.netloc, parts.scheme) == _authority(host, parts.scheme):
            return True
        return host_name(parts.netloc) in self.allowed


def _authority(authority: str, scheme: str) -> str:
    """host:port with the scheme's default port spelled out, for comparing."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        tail = authority.split("]", 1)[1]
        port = tail[1:] if tail.startswith(":") else ""
    else:
        port = authority.split(":")[1] if authority.count(":") == 1 else ""
    return f"{host_name(authority)}:{port or ('443' if scheme == 'https' else '80')}"


class TrustBoundary:
    """ASGI middleware applying a HostPolicy, the JSON content type and a body-size cap.

    Args:
        app: the ASGI app behind the boundary.
        policy: the HostPolicy.
        max_body_bytes: the largest request body read (413 above it).
    """

    def __init__(self, app: Any, policy: HostPolicy, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.policy = policy
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan; the app has no websockets
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        refused = self._refusal(scope, headers, host)
        if refused is not None:
            return await _refuse(send, *refused)
        if scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return await _refuse(send, 413, "BodyTooLarge", self._too_large())
        body, more = await _read_body(receive, self.max_body_bytes)
        if more:
            return await _refuse(send, 413, "BodyTooLarge", self._too_large())
        await self.app(scope, _replay(body, receive), send)

    def _refusal(self, scope: Scope, headers: dict[str, str], host: str) -> tuple[int, str, str] | None:
        if not self.policy.allows_host(host):
            return (421, "ForbiddenHost", f"this server does not answer for Host {host!r}: it answers for "
                    f"{', '.join(sorted(self.policy.names))}; start rag serve with --allowed-host NAME to add one")
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and not self.policy.allows_origin(origin, host):
            return (403, "ForbiddenOrigin", f"a request from the page at {origin!r} may not change anything "
                    "on this server: only its own page (or an --allowed-host name) may")
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            return (415, "UnsupportedMediaType", f"the body must be JSON (Content-Type: application/json); "
                    f"got {kind or 'no Content-Type'!r}")
        return None

    def _too_large(self) -> str:
        return f"the request body exceeds {self.max_body_bytes} bytes"


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body, or (what was read, True) once it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body read, then the client's own messages (disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _refuse(send: Send, status: int, kind: str, message: str) -> None:
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

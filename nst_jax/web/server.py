"""The pages' server: an aiohttp application on a thread of its own, beside the run.

    address = parse_address("8080")       # [HOST:]PORT; no HOST: 127.0.0.1
    sock = bind(address)                  # now: a port in use is a one-line error
    server = Background(app, sock)        # served from its own thread and event loop
    server.close()

Security, for a server that can start work on this machine and read its images:
- bound to 127.0.0.1 unless a HOST is given; then every request must carry a random
  token, given in the printed URL (`?token=...`) and kept by the browser as a cookie: a
  server on a network answers only to whoever was shown the URL;
- on 127.0.0.1, a request whose Host header is not a loopback name is refused: a web page
  elsewhere cannot reach the server through a domain it points at 127.0.0.1 (DNS
  rebinding);
- a POST must carry the header `X-NST-JAX: 1`, which a page of another origin cannot set
  without asking first (a CORS preflight, never granted): no cross-site Stop or upload;
- files are served only from the package's static folder, by exact name.
"""

import asyncio
import errno
import ipaddress
import secrets
import socket
import threading
from importlib import resources
from typing import Any, Callable, NamedTuple, Optional

from ..errors import NstError

HEADER = "X-NST-JAX"  # every POST carries it (see above)
COOKIE = "nst_jax_token"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def need_aiohttp() -> None:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise NstError(
            "the web pages need aiohttp, which is not installed; pip install 'nst_jax[web]'"
        ) from None


class Address(NamedTuple):
    host: str
    port: int  # 0: any free port

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(text: str, flag: str = "--web") -> Address:
    """'8080' -> (127.0.0.1, 8080); '0.0.0.0:8080', '[::1]:8080' -> as given."""
    host, _, port = str(text).rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port.isdecimal() or int(port) > 65535:
        raise NstError(
            f"{flag} expects [HOST:]PORT, got {text!r}; give a port 0..65535 (0: any free one), e.g. 8080 or 0.0.0.0:8080"
        )
    return Address(host or "127.0.0.1", int(port))


def bind(address: Address, flag: str = "--web") -> socket.socket:
    """A listening socket on `address`, or a one-line error naming what to do."""
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM
        )[0]
    except socket.gaierror:
        raise NstError(
            f"{flag}: no address found for the host {address.host!r}; give one of this machine's, e.g. 127.0.0.1"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (not a port in use: one in TIME_WAIT)
        sock.bind(where)
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise NstError(
                f"port {address.port} of {address.host} is in use; choose another, e.g. {flag} {_free_port(address)}"
            ) from None
        if e.errno == errno.EACCES:
            raise NstError(
                f"port {address.port} needs privileges; choose one above 1023, e.g. {flag} 8080"
            ) from None
        raise NstError(
            f"{flag}: cannot listen on {address.host} ({e.strerror}); give an address of this machine, e.g. 127.0.0.1"
        ) from None
    return sock


def _free_port(address: Address) -> int:
    with socket.socket(socket.getaddrinfo(address.host, 0)[0][0], socket.SOCK_STREAM) as s:
        s.bind((address.host, 0))  # (the system's choice of a free port)
        return s.getsockname()[1]


def url(address: Address, sock: socket.socket, token: Optional[str], path: str = "/") -> str:
    """What to open: the port actually bound; a wildcard host named by this machine's name."""
    port = sock.getsockname()[1]
    host = socket.gethostname() if address.host in ("0.0.0.0", "::", "") else address.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}{path}" + (f"?token={token}" if token else "")


def new_token(address: Address) -> Optional[str]:
    """None on loopback; else a random token every request must carry."""
    return None if address.loopback else secrets.token_urlsafe(18)


def guard(token: Optional[str], loopback: bool):
    """The middleware that applies the rules of this module's docstring."""
    from aiohttp import web

    @web.middleware
    async def check(request, handler):
        if loopback and not is_loopback(request.url.host or ""):
            raise web.HTTPForbidden(text="this server answers only to localhost (a DNS rebinding guard)\n")
        given = request.query.get("token")
        if token is not None and not secrets.compare_digest(given or request.cookies.get(COOKIE, ""), token):
            raise web.HTTPForbidden(text="a token is required: open the URL the command printed\n")
        if request.method == "POST" and request.headers.get(HEADER) != "1":
            raise web.HTTPForbidden(text=f"a POST needs the header {HEADER}: 1\n")
        response = await handler(request)
        if token is not None and given:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        response.headers.update(
            {
                "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",
                "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:",
            }
        )
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return check


def static(name: str):
    """The response for the package's web/static/NAME, or 404 for any other name."""
    from aiohttp import web

    folder = resources.files(__package__) / "static"
    known = {p.name for p in folder.iterdir()}
    if name not in known:
        raise web.HTTPNotFound()
    kind = TYPES.get(name[name.rfind(".") :], "application/octet-stream")
    return web.Response(body=(folder / name).read_bytes(), content_type=kind, charset="utf-8")


class Pulse:
    """Wakes the server's waiting requests when a board changes (from the run's thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.event = loop, asyncio.Event()

    def __call__(self) -> None:  # (any thread)
        try:
            self.loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # (the server's loop closed: nobody waits)
            pass

    def _wake(self) -> None:
        self.event.set()
        self.event = asyncio.Event()

    async def wait(self, until: Callable[[], bool], seconds: float) -> None:
        """Returns when until() holds or after `seconds`."""
        deadline = self.loop.time() + seconds
        while not until() and self.loop.time() < deadline:
            try:
                await asyncio.wait_for(self.event.wait(), deadline - self.loop.time())
            except asyncio.TimeoutError:
                return


class Background:
    """An aiohttp application served on `sock` from a daemon thread until close()."""

    def __init__(self, make_app: Callable[[asyncio.AbstractEventLoop], Any], sock: socket.socket):
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failed: Optional[BaseException] = None
        self.thread = threading.Thread(
            target=self._serve, args=(make_app, sock), daemon=True, name="nst_jax-web"
        )
        self.thread.start()
        self._ready.wait()
        if self._failed is not None:
            raise self._failed

    def _serve(self, make_app, sock) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self.loop)
        try:
            runner = web.AppRunner(make_app(self.loop), access_log=None, shutdown_timeout=1.0)
            self.loop.run_until_complete(runner.setup())
            self.loop.run_until_complete(web.SockSite(runner, sock).start())
        except BaseException as e:  # (told to the caller's thread)
            self._failed = e
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def close(self) -> None:
        """Stops serving (requests still open get a second to finish)."""
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
